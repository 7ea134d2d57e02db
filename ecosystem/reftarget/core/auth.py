"""Bearer-token authentication (contract §2a) and tenant-scoped lookups (§4).

Authentication runs before the header rules: a request without a valid A1 token gets 401
whatever else is wrong with it, and an idempotent replay is never shown to a caller who
cannot prove who they are (TEN-24). The tenant is the token's ``tid`` claim.

Tokens are checked against the real clock, not the app's ``TargetClock``: the
``clock_offset_s`` fault exists to cross the app's own windows (the 15-minute idempotency
TTL, the lock expiry, cycle timing), and a test that crosses them still holds a token
that A1 issued minutes ago.

The ``jwks_refetch`` fault is applied here, at the seam, with identity's public functions:
while it is on, tokens are checked against a JWKS snapshot taken once and never refreshed,
which is exactly the relying-party bug that turns a key rotation into an outage.
"""

from __future__ import annotations

import sqlite3
import ssl
from collections.abc import Callable
from typing import Protocol

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.types import ASGIApp, Receive, Scope, Send

from reftarget.core.clock import TargetClock
from reftarget.core.context import SCOPE_KEY, RequestContext
from reftarget.core.faults import Faults
from reftarget.core.problem import problem_response
from reftarget.identity.verifier import (
    Claims,
    InvalidToken,
    TokenVerifier,
    decode_access_token,
    keys_from_jwks,
)

_JWKS_TIMEOUT_S = 5.0


class Authenticator(Protocol):
    """Turns a bearer token into verified claims or raises ``InvalidToken``."""

    async def authenticate(self, token: str) -> Claims: ...


class BearerAuthenticator:
    """Verifies A1 tokens; honours the ``jwks_refetch`` fault (see the module docstring)."""

    def __init__(
        self,
        *,
        issuer: str,
        jwks_url: str,
        ssl_context: ssl.SSLContext,
        faults: Faults,
        audience: str = "reftarget",
    ) -> None:
        self._issuer = issuer
        self._jwks_url = jwks_url
        self._ssl_context = ssl_context
        self._clock = TargetClock()  # never offset: see the module docstring
        self._faults = faults
        self._audience = audience
        self._verifier = TokenVerifier(
            issuer, jwks_url, audience=audience, verify=ssl_context, clock=self._clock
        )
        self._frozen_keys: dict[str, rsa.RSAPublicKey] | None = None

    async def authenticate(self, token: str) -> Claims:
        """The verified claims; ``InvalidToken`` otherwise."""
        if self._faults.rule_enabled("jwks_refetch"):
            self._frozen_keys = None
            return await self._verifier.verify(token)
        if self._frozen_keys is None:
            self._frozen_keys = await self._fetch_keys_once()
        return decode_access_token(
            token,
            self._frozen_keys,
            issuer=self._issuer,
            audience=self._audience,
            now=self._clock.time(),
        )

    async def _fetch_keys_once(self) -> dict[str, rsa.RSAPublicKey]:
        try:
            async with httpx.AsyncClient(verify=self._ssl_context, timeout=_JWKS_TIMEOUT_S) as http:
                response = await http.get(self._jwks_url)
            response.raise_for_status()
            return keys_from_jwks(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            raise InvalidToken("jwks_unavailable") from exc


def bearer_token(scope: Scope) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if there is exactly one."""
    values = [v for k, v in scope["headers"] if k == b"authorization"]
    if len(values) != 1:
        return None
    scheme, _, token = values[0].decode("latin-1").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class AuthMiddleware:
    """Requires a valid A1 token on every route ``needs_token`` says is protected."""

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        needs_token: Callable[[RequestContext], bool],
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.needs_token = needs_token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        context = scope.get(SCOPE_KEY)
        if not isinstance(context, RequestContext) or not self.needs_token(context):
            await self.app(scope, receive, send)
            return
        token = bearer_token(scope)
        reason = "missing_token"
        if token is not None:
            try:
                claims = await self.authenticator.authenticate(token)
            except InvalidToken as exc:
                reason = exc.reason
            else:
                context.subject = claims.sub
                context.tenant_id = claims.tid
                context.scope_grants = frozenset(claims.scope.split())
                await self.app(scope, receive, send)
                return
        response = problem_response(
            401,
            "unauthenticated",
            "A valid bearer token from A1 is required "
            f"(Authorization: Bearer <access token>); reason: {reason}.",
            headers={
                "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{reason}"'
            },
        )
        await response(scope, receive, send)


class ResourceNotFound(Exception):
    """No such resource for this tenant (it may exist for another one: the answer is the same)."""

    def __init__(self, resource: str, resource_id: str) -> None:
        super().__init__(f"{resource} {resource_id}")
        self.resource = resource
        self.resource_id = resource_id


def fetch_for_tenant(
    conn: sqlite3.Connection,
    table: str,
    resource_id: str,
    tenant_id: str | None,
    faults: Faults,
    *,
    resource: str | None = None,
) -> sqlite3.Row:
    """The row ``id = resource_id`` of ``tenant_id`` in ``table``; ``ResourceNotFound`` otherwise.

    ``table`` is a trusted identifier from app code, never request data. With the
    ``tenant_scope`` fault on, the tenant filter is dropped (the bug the harness hunts).
    """
    if faults.rule_enabled("tenant_scope"):
        row = conn.execute(
            f"SELECT * FROM {table} WHERE id = ? AND tenant_id = ?", (resource_id, tenant_id)
        ).fetchone()
    else:
        row = conn.execute(f"SELECT * FROM {table} WHERE id = ?", (resource_id,)).fetchone()
    if row is None:
        raise ResourceNotFound(resource or table.rstrip("s"), resource_id)
    if not isinstance(row, sqlite3.Row):
        raise TypeError("the app database must use sqlite3.Row rows")
    return row
