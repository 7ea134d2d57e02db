"""Authorization codes: single use, 60 s, bound to client, redirect URI and PKCE challenge.

Redeeming deletes the row in the same statement that reads it (``DELETE … RETURNING``),
so two concurrent redemptions cannot both succeed. Only the code's SHA-256 is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from reftarget.clock import Clock
from reftarget.identity import storage

CODE_TTL_S = 60

# RFC 7636 §4.1 (verifier) and §4.2 (an S256 challenge is 32 bytes in base64url).
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_S256_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS authorization_codes (
    code_sha256 TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    sub TEXT NOT NULL,
    tid TEXT NOT NULL,
    scope TEXT NOT NULL,
    nonce TEXT,
    expires_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class CodeGrant:
    """What a code stands for: who logged in, for which client, redirect URI and challenge."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    sub: str
    tid: str
    scope: str
    nonce: str | None


class CodeStore:
    """Outstanding codes in the app's SQLite file."""

    def __init__(self, db_path: Path, clock: Clock) -> None:
        self._db_path = db_path
        self._clock = clock
        storage.prepare(db_path, _SCHEMA)

    def issue(self, grant: CodeGrant) -> str:
        """A new code for ``grant``, valid for ``CODE_TTL_S``."""
        code = secrets.token_urlsafe(32)
        now = self._clock.time()
        with storage.connect(self._db_path) as conn:
            conn.execute("DELETE FROM authorization_codes WHERE expires_at <= ?", (now,))
            conn.execute(
                "INSERT INTO authorization_codes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    _digest(code),
                    grant.client_id,
                    grant.redirect_uri,
                    grant.code_challenge,
                    grant.sub,
                    grant.tid,
                    grant.scope,
                    grant.nonce,
                    now + CODE_TTL_S,
                ),
            )
        return code

    def redeem(self, code: str) -> CodeGrant | None:
        """Consume ``code``: its grant the first time while live, None ever after."""
        with storage.connect(self._db_path) as conn:
            rows = conn.execute(
                "DELETE FROM authorization_codes WHERE code_sha256 = ? RETURNING "
                "client_id, redirect_uri, code_challenge, sub, tid, scope, nonce, expires_at",
                (_digest(code),),
            ).fetchall()  # run to completion so the delete is committed before close
        if not rows or rows[0][7] <= self._clock.time():
            return None
        return CodeGrant(*rows[0][:7])


    def delete_for(self, sub: str) -> int:
        """Drop every outstanding code issued to ``sub`` (its identity is being deleted)."""
        with storage.connect(self._db_path) as conn:
            return int(
                conn.execute("DELETE FROM authorization_codes WHERE sub = ?", (sub,)).rowcount
            )


def is_s256_challenge(value: str) -> bool:
    """Whether ``value`` has the shape of an S256 code challenge."""
    return _S256_CHALLENGE.fullmatch(value) is not None


def verifier_matches(verifier: str, challenge: str) -> bool:
    """RFC 7636 S256: ``BASE64URL(SHA256(verifier)) == challenge``, in constant time."""
    if _VERIFIER.fullmatch(verifier) is None:
        return False
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return hmac.compare_digest(computed, challenge)


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()
