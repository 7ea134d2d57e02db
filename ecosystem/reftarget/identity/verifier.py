"""Verification of A1's access tokens, for A1 itself and for every relying app.

RS256 only: the algorithm is checked in the header before any key is looked up, so
``alg: none``, HS256 keyed with the public key (algorithm confusion) and RS384/PS256 are
refused without touching the network. Time claims are checked against the injected clock
(PyJWT's own checks use the real clock, so they are turned off and redone here); there is
no leeway because every app reads the same host clock, and ``iat`` is not compared with
the clock so that a ``clock_offset_s`` fault on A1 alone does not break other apps.

``TokenVerifier`` caches A1's JWKS. It fetches the set when it has none, when it is older
than ``JWKS_MAX_AGE_S`` (so a retired key stops being trusted), and when a token names an
unknown ``kid`` (so a rotation needs no restart). Fetches are at least
``refetch_cooldown_s`` apart, counted from the previous attempt whatever triggered it, so a
flood of made-up kids costs A1 one request per cooldown. A failed fetch keeps the old set.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from reftarget.clock import Clock

ALGORITHM = "RS256"
AUDIENCE = "reftarget"
JWKS_MAX_AGE_S = 300.0
MIN_KEY_BITS = 2048
_FETCH_TIMEOUT_S = 5.0


class InvalidToken(Exception):
    """The bearer token is not acceptable; ``reason`` is a short machine-readable code."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Claims:
    """The verified claims an app acts on; ``raw`` is the whole payload."""

    sub: str
    tid: str
    scope: str
    raw: Mapping[str, Any] = field(hash=False, repr=False)


def token_kid(token: str) -> str:
    """The ``kid`` of an RS256 token's header; InvalidToken for any other algorithm."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise InvalidToken("malformed") from exc
    if header.get("alg") != ALGORITHM:
        raise InvalidToken("alg_not_allowed")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("missing_kid")
    return kid


def decode_access_token(
    token: str,
    keys: Mapping[str, rsa.RSAPublicKey],
    *,
    issuer: str,
    audience: str,
    now: float,
) -> Claims:
    """Verify the signature, ``iss`` (byte-equal), ``aud``, ``exp``/``nbf`` at ``now``, ``tid``."""
    key = keys.get(token_kid(token))
    if key is None:
        raise InvalidToken("unknown_kid")
    try:
        payload = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "require": ["iss", "aud", "exp", "iat", "sub", "tid"],
            },
        )
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"missing_claim:{exc.claim}") from exc
    except jwt.InvalidIssuerError as exc:
        raise InvalidToken("wrong_issuer") from exc
    except jwt.InvalidAudienceError as exc:
        raise InvalidToken("wrong_audience") from exc
    except jwt.InvalidSignatureError as exc:
        raise InvalidToken("bad_signature") from exc
    except jwt.InvalidTokenError as exc:
        raise InvalidToken("malformed") from exc
    return _checked_claims(payload, now)


def keys_from_jwks(document: object) -> dict[str, rsa.RSAPublicKey]:
    """The RS256 signing keys of a JWK Set; keys for other uses or under 2048 bits are skipped."""
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError("not a JWK Set")
    keys: dict[str, rsa.RSAPublicKey] = {}
    for jwk in entries:
        if not isinstance(jwk, dict) or jwk.get("kty") != "RSA":
            continue
        if jwk.get("use", "sig") != "sig" or jwk.get("alg", ALGORITHM) != ALGORITHM:
            continue
        kid, n, e = jwk.get("kid"), jwk.get("n"), jwk.get("e")
        if not (isinstance(kid, str) and isinstance(n, str) and isinstance(e, str)):
            continue
        key = rsa.RSAPublicNumbers(_b64_uint(e), _b64_uint(n)).public_key()
        if key.key_size >= MIN_KEY_BITS:
            keys[kid] = key
    return keys


class TokenVerifier:
    """Verifies A1 bearer tokens against A1's published JWKS (see the module docstring)."""

    def __init__(
        self,
        issuer: str,
        jwks_url: str,
        *,
        audience: str = AUDIENCE,
        verify: ssl.SSLContext | str | bool = True,
        clock: Clock,
        refetch_cooldown_s: float = 10.0,
    ) -> None:
        self._issuer = issuer
        self._jwks_url = jwks_url
        self._audience = audience
        # httpx deprecates a CA path as ``verify``; build the context once instead.
        self._verify = (
            ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
        )
        self._clock = clock
        self._cooldown_s = refetch_cooldown_s
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()

    async def verify(self, token: str) -> Claims:
        """The claims of a valid token; InvalidToken (with a reason) otherwise."""
        kid = token_kid(token)
        if kid not in self._keys or self._is_stale():
            await self._refresh()
        if not self._keys:
            raise InvalidToken("jwks_unavailable")
        return decode_access_token(
            token, self._keys, issuer=self._issuer, audience=self._audience, now=self._clock.time()
        )

    def _is_stale(self) -> bool:
        return self._fetched_at is None or not (
            0 <= self._clock.time() - self._fetched_at < JWKS_MAX_AGE_S
        )

    def _cooling_down(self) -> bool:
        # A clock stepped backwards (offset fault) ends the cooldown rather than extending it.
        return self._attempted_at is not None and (
            0 <= self._clock.time() - self._attempted_at < self._cooldown_s
        )

    async def _refresh(self) -> None:
        async with self._lock:  # concurrent misses share one fetch
            if self._cooling_down():
                return
            self._attempted_at = self._clock.time()
            try:
                async with httpx.AsyncClient(verify=self._verify, timeout=_FETCH_TIMEOUT_S) as http:
                    response = await http.get(self._jwks_url)
                response.raise_for_status()
                keys = keys_from_jwks(response.json())
            except (httpx.HTTPError, ValueError):
                return  # keep the cached set; the cooldown paces the next try
            self._keys = keys
            self._fetched_at = self._attempted_at


def _checked_claims(payload: dict[str, Any], now: float) -> Claims:
    exp, nbf, iat = payload["exp"], payload.get("nbf"), payload["iat"]
    if not _is_number(exp) or not _is_number(iat) or (nbf is not None and not _is_number(nbf)):
        raise InvalidToken("malformed")
    if now >= exp:
        raise InvalidToken("expired")
    if nbf is not None and now < nbf:
        raise InvalidToken("not_yet_valid")
    sub, tid, scope = payload["sub"], payload["tid"], payload.get("scope", "")
    if not (isinstance(sub, str) and sub and isinstance(tid, str) and tid):
        raise InvalidToken("malformed")
    if not isinstance(scope, str):
        raise InvalidToken("malformed")
    return Claims(sub, tid, scope, MappingProxyType(payload))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _b64_uint(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")
