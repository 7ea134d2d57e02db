"""A1's RS256 signing keys: kept in SQLite so tokens stay verifiable across restarts.

Rotation publishes a new key and signs with it at once; older keys stay in the JWKS so
tokens they signed remain valid until an operator retires them. A ``kid`` is the key's
RFC 7638 thumbprint, so it is unique and names exactly one public key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from reftarget.identity import storage

KEY_BITS = 2048
_PUBLIC_EXPONENT = 65537

_SCHEMA = """
CREATE TABLE IF NOT EXISTS signing_keys (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kid TEXT NOT NULL UNIQUE,
    private_pem BLOB NOT NULL
);
"""


@dataclass(frozen=True)
class SigningKey:
    """The key new tokens are signed with."""

    kid: str
    private_key: rsa.RSAPrivateKey


class KeyStore:
    """Published RSA keys, newest first; the newest one signs."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._loaded: dict[str, rsa.RSAPrivateKey] = {}
        self._lock = threading.Lock()
        storage.prepare(db_path, _SCHEMA)
        with storage.connect(db_path) as conn:
            conn.execute("BEGIN IMMEDIATE")
            empty = conn.execute("SELECT 1 FROM signing_keys LIMIT 1").fetchone() is None
            if empty:
                _insert_new_key(conn)
            conn.execute("COMMIT")

    def current(self) -> SigningKey:
        """The newest published key."""
        kid, private_key = self._published()[0]
        return SigningKey(kid, private_key)

    def rotate(self) -> str:
        """Publish a new key, make it the signing key, and return its kid."""
        with storage.connect(self.db_path) as conn:
            return _insert_new_key(conn)

    def retire(self, kid: str) -> None:
        """Unpublish ``kid``: tokens it signed stop verifying once relying apps refetch.

        Raises ``KeyError`` for an unknown kid and ``ValueError`` for the signing key
        (rotate first), so the provider is never left without a key.
        """
        with storage.connect(self.db_path) as conn:
            conn.execute("BEGIN IMMEDIATE")
            rows = conn.execute("SELECT kid FROM signing_keys ORDER BY seq DESC").fetchall()
            kids = [row[0] for row in rows]
            if kid not in kids:
                conn.execute("ROLLBACK")
                raise KeyError(kid)
            if kid == kids[0]:
                conn.execute("ROLLBACK")
                raise ValueError("the signing key cannot be retired; rotate first")
            conn.execute("DELETE FROM signing_keys WHERE kid = ?", (kid,))
            conn.execute("COMMIT")

    def public_keys(self) -> dict[str, rsa.RSAPublicKey]:
        """Every published public key by kid (what A1 itself verifies bearer tokens with)."""
        return {kid: key.public_key() for kid, key in self._published()}

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWK Set: public members only, newest key first."""
        return {"keys": [_public_jwk(kid, key.public_key()) for kid, key in self._published()]}

    def _published(self) -> list[tuple[str, rsa.RSAPrivateKey]]:
        with storage.connect(self.db_path) as conn:
            rows = conn.execute(
                "SELECT kid, private_pem FROM signing_keys ORDER BY seq DESC"
            ).fetchall()
        return [(kid, self._load(kid, pem)) for kid, pem in rows]

    def _load(self, kid: str, pem: bytes) -> rsa.RSAPrivateKey:
        # Parsing a PEM costs about a millisecond; a kid never changes its key, so cache it.
        with self._lock:
            key = self._loaded.get(kid)
            if key is None:
                loaded = serialization.load_pem_private_key(pem, password=None)
                if not isinstance(loaded, rsa.RSAPrivateKey):
                    raise TypeError(f"signing key {kid} is not an RSA key")
                key = self._loaded[kid] = loaded
            return key


def _public_jwk(kid: str, key: rsa.RSAPublicKey) -> dict[str, str]:
    """The JWK of an RSA public key, with ``use`` and ``alg`` pinned to RS256 signing."""
    numbers = key.public_numbers()
    return {
        "kty": "RSA",
        "kid": kid,
        "use": "sig",
        "alg": "RS256",
        "n": _b64_uint(numbers.n),
        "e": _b64_uint(numbers.e),
    }


def _thumbprint(key: rsa.RSAPublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url)."""
    numbers = key.public_numbers()
    members = {"e": _b64_uint(numbers.e), "kty": "RSA", "n": _b64_uint(numbers.n)}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return _b64(hashlib.sha256(canonical).digest())


def _insert_new_key(conn: sqlite3.Connection) -> str:
    private_key = rsa.generate_private_key(public_exponent=_PUBLIC_EXPONENT, key_size=KEY_BITS)
    kid = _thumbprint(private_key.public_key())
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    conn.execute("INSERT INTO signing_keys (kid, private_pem) VALUES (?, ?)", (kid, pem))
    return kid


def _b64_uint(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
