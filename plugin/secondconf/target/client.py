"""The harness's HTTP client: trace ids on every request, and no accidental production writes.

Against ``prod_observe`` the harness may send GET and HEAD, and otherwise only requests
that are synthetic in every respect (contract §5). :class:`ProdObserveGuard` enforces that
as an httpx *transport* wrapper, so the check runs after every header is final (event
hooks, auth, redirects) and before the wrapped transport opens a connection: a refused
request never leaves the process, not even its first byte.

"Synthetic in every respect" means all of:

* ``X-Test-Run: true`` and ``X-Source: qa`` (the synthetic tags);
* ``X-Synthetic-Identity`` naming an allowed synthetic identity
  (``test_student_e2e_01`` or ``test_provider_e2e_01``). The harness sets this header to
  the identity it asked A1 for when it got the token (the ``subject`` form field of the
  ``client_credentials`` grant). It is checkable before sending: when the request's
  ``Authorization`` is a bearer JWT, the token's ``sub`` claim must be that same identity,
  so a real user's token cannot ride along under a synthetic label. (The payload is read,
  not verified: the token is the harness's own, and A1 verifies it on arrival.) An opaque
  bearer value (A8's telemetry key) has no subject, and the header alone names the identity;
* ``X-Idempotency-Key`` (1–255 visible ASCII, no commas) and a valid ``X-Trace-Id``, so a
  retry can never become a second write and every write can be found in A8.

Even then a write goes out only through a *write gate* (``write_gate``), which logs it
under a ``prod_write`` approval (:mod:`secondconf.target.write_gate`); a client without
one refuses every write to ``prod_observe``, naming the gate.

The guard is installed in every client :func:`harness_client` makes; the
:class:`RequestPolicy` decides by environment, so against ``embedded`` and ``staging``
nothing is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TypeVar

import httpx

from secondconf.contract.platform import (
    ENVS,
    PROD_OBSERVE,
    SYNTHETIC_HEADERS,
    SYNTHETIC_IDENTITIES,
    SyntheticIdentity,
)
from secondconf.contract.traceids import (
    IDEMPOTENCY_KEY_HEADER,
    TRACE_ID_HEADER,
    is_valid_idempotency_key,
    is_valid_trace_id,
    new_trace_id,
)
from secondconf.target.map import SystemMap

SAFE_METHODS: Final = frozenset({"GET", "HEAD"})
SYNTHETIC_IDENTITY_HEADER: Final = "X-Synthetic-Identity"
# A request extension that stops the client from adding an X-Trace-Id, for checks that
# must send a request without one (e.g. to see the 428 of contract §4).
NO_TRACE_ID: Final = "secondconf.no_trace_id"

# Enough connections that probing 8 apps x 2 endpoints at 20/s with a 2 s timeout rarely
# waits for the pool, while keep-alive reuse keeps handshakes out of the latencies.
PROBE_LIMITS: Final = httpx.Limits(
    max_connections=512, max_keepalive_connections=64, keepalive_expiry=15.0
)

NO_WRITE_GATE: Final = (
    "a logged prod_write approval (HITL gate 'prod_write': this client has no write gate)"
)

_ClientT = TypeVar("_ClientT", httpx.AsyncClient, httpx.Client)
WriteGate = Callable[[httpx.Request], None]
"""Called with each write to ``prod_observe`` that is synthetic in every respect, just
before it is sent; it raises :class:`ProductionWriteRefused` to stop it."""


class ProductionWriteRefused(Exception):
    """A request that would write to production without being synthetic in every respect.

    Deliberately not an ``httpx.HTTPError``: nothing that handles network failures may
    swallow it.
    """

    def __init__(self, method: str, url: str, missing: list[str]) -> None:
        self.method = method
        self.url = url
        self.missing = list(missing)
        super().__init__(
            f"prod_observe: refused {method} {url} before sending; not synthetic in every "
            f"respect, missing: {'; '.join(self.missing)}"
        )


@dataclass(frozen=True)
class RequestPolicy:
    """What the harness may send to an environment."""

    env: str
    allowed_identities: frozenset[str] = field(default=SYNTHETIC_IDENTITIES)

    def __post_init__(self) -> None:
        if self.env not in ENVS:
            raise ValueError(f"unknown environment {self.env!r}; valid values: {', '.join(ENVS)}")

    @property
    def observe_only(self) -> bool:
        return self.env == PROD_OBSERVE

    def missing_elements(self, request: httpx.Request) -> list[str]:
        """What keeps ``request`` from being sendable here (empty: it may go)."""
        if not self.observe_only or request.method.upper() in SAFE_METHODS:
            return []
        headers = request.headers
        missing: list[str] = []
        if headers.get("X-Test-Run", "").strip().lower() != "true":
            missing.append("X-Test-Run: true")
        if headers.get("X-Source", "").strip() != "qa":
            missing.append("X-Source: qa")
        identity = headers.get(SYNTHETIC_IDENTITY_HEADER, "").strip()
        if identity not in self.allowed_identities:
            allowed = ", ".join(sorted(self.allowed_identities))
            missing.append(f"{SYNTHETIC_IDENTITY_HEADER} (one of {allowed})")
        else:
            subject = bearer_subject(headers.get("Authorization"))
            if subject is not None and subject != identity:
                missing.append(f"a bearer token whose subject is {identity}")
        if not is_valid_idempotency_key(headers.get(IDEMPOTENCY_KEY_HEADER, "")):
            missing.append(f"{IDEMPOTENCY_KEY_HEADER} (1-255 visible ASCII, no commas)")
        if not is_valid_trace_id(headers.get(TRACE_ID_HEADER, "")):
            missing.append(f"{TRACE_ID_HEADER} (32 lowercase hex, not all zero)")
        return missing

    def check(self, request: httpx.Request) -> None:
        """Raise :class:`ProductionWriteRefused` unless ``request`` may be sent."""
        missing = self.missing_elements(request)
        if missing:
            raise ProductionWriteRefused(request.method, printable_url(request.url), missing)


def bearer_subject(authorization: str | None) -> str | None:
    """The ``sub`` claim of a bearer JWT, read without verification; ``None`` if opaque."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    parts = token.strip().split(".")
    if scheme.lower() != "bearer" or len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError):
        return None
    subject = claims.get("sub") if isinstance(claims, dict) else None
    return subject if isinstance(subject, str) else None


class ProdObserveGuard(httpx.AsyncBaseTransport, httpx.BaseTransport):
    """A transport that checks every request against a :class:`RequestPolicy` and lets a
    write to ``prod_observe`` through ``write_gate`` only, then hands it to the wrapped
    transport (sync or async, whichever ``inner`` is)."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport | httpx.BaseTransport,
        policy: RequestPolicy,
        write_gate: WriteGate | None = None,
    ) -> None:
        self.inner = inner
        self.policy = policy
        self.write_gate = write_gate

    def admit(self, request: httpx.Request) -> None:
        """Raise :class:`ProductionWriteRefused` unless ``request`` may be sent now."""
        self.policy.check(request)
        if self.policy.observe_only and request.method.upper() not in SAFE_METHODS:
            if self.write_gate is None:
                url = printable_url(request.url)
                raise ProductionWriteRefused(request.method, url, [NO_WRITE_GATE])
            self.write_gate(request)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.admit(request)
        if not isinstance(self.inner, httpx.BaseTransport):
            raise TypeError("this guard wraps an async transport; use it with httpx.AsyncClient")
        return self.inner.handle_request(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.admit(request)
        if not isinstance(self.inner, httpx.AsyncBaseTransport):
            raise TypeError("this guard wraps a sync transport; use it with httpx.Client")
        return await self.inner.handle_async_request(request)

    def close(self) -> None:
        if isinstance(self.inner, httpx.BaseTransport):
            self.inner.close()

    async def aclose(self) -> None:
        if isinstance(self.inner, httpx.AsyncBaseTransport):
            await self.inner.aclose()


def synthetic_headers(
    identity: str | SyntheticIdentity, *, idempotency_key: str | None = None
) -> dict[str, str]:
    """The headers that make a request synthetic as ``identity`` (plus its key, if given)."""
    if str(identity) not in SYNTHETIC_IDENTITIES:
        valid = ", ".join(sorted(SYNTHETIC_IDENTITIES))
        raise ValueError(f"{str(identity)!r} is not a synthetic identity; valid: {valid}")
    headers = {**SYNTHETIC_HEADERS, SYNTHETIC_IDENTITY_HEADER: str(identity)}
    if idempotency_key is not None:
        headers[IDEMPOTENCY_KEY_HEADER] = idempotency_key
    return headers


def add_trace_id(request: httpx.Request) -> None:
    """Give ``request`` a fresh ``X-Trace-Id`` unless it has one, carries a W3C
    ``traceparent`` (a second, different id would be a 400), or opted out."""
    if request.extensions.get(NO_TRACE_ID):
        return
    if TRACE_ID_HEADER in request.headers or "traceparent" in request.headers:
        return
    request.headers[TRACE_ID_HEADER] = new_trace_id()


async def _add_trace_id_async(request: httpx.Request) -> None:
    add_trace_id(request)


def harness_client(
    target: SystemMap | str,
    *,
    env: str | None = None,
    verify: ssl.SSLContext | bool | Path | str | None = None,
    timeout_s: float = 5.0,
    http2: bool = False,
    synthetic_identity: str | SyntheticIdentity | None = None,
    limits: httpx.Limits = PROBE_LIMITS,
    write_gate: WriteGate | None = None,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for talking to the target under the harness's rules.

    ``target`` is a system map (requests then use absolute URLs from it) or one base URL
    (``""`` for a client whose every request names an absolute URL).
    The environment is ``env``, else the map's; given both, the stricter wins (either
    ``prod_observe`` installs the refusal). ``verify`` defaults to the map's CA bundle,
    else the system's trust store; a path is a CA bundle file. Every request gets a fresh
    ``X-Trace-Id`` unless it has one; ``synthetic_identity`` adds the synthetic tags and
    ``X-Synthetic-Identity`` to every request. ``write_gate`` logs each write to
    ``prod_observe`` under its approval (without one no such write is sent). Proxy and
    netrc settings from the environment are ignored (``trust_env=False``): probes go
    straight to the target.
    """
    return _guarded_client(
        httpx.AsyncClient,
        target,
        env,
        verify,
        timeout_s,
        http2,
        synthetic_identity,
        limits,
        write_gate,
    )


def harness_sync_client(
    target: SystemMap | str,
    *,
    env: str | None = None,
    verify: ssl.SSLContext | bool | Path | str | None = None,
    timeout_s: float = 5.0,
    http2: bool = False,
    synthetic_identity: str | SyntheticIdentity | None = None,
    limits: httpx.Limits = PROBE_LIMITS,
    write_gate: WriteGate | None = None,
) -> httpx.Client:
    """The blocking twin of :func:`harness_client`, with the same rules."""
    return _guarded_client(
        httpx.Client,
        target,
        env,
        verify,
        timeout_s,
        http2,
        synthetic_identity,
        limits,
        write_gate,
    )


def _guarded_client(
    client_type: type[_ClientT],
    target: SystemMap | str,
    env: str | None,
    verify: ssl.SSLContext | bool | Path | str | None,
    timeout_s: float,
    http2: bool,
    synthetic_identity: str | SyntheticIdentity | None,
    limits: httpx.Limits,
    write_gate: WriteGate | None,
) -> _ClientT:
    """The client both builders make, async or blocking as ``client_type`` is: the
    :class:`ProdObserveGuard` around a transport of the same kind, and the trace-id hook."""
    base_url, policy, ssl_verify, headers = _client_settings(
        target, env, verify, synthetic_identity
    )
    inner: httpx.AsyncBaseTransport | httpx.BaseTransport
    hook: Callable[[httpx.Request], object]
    if issubclass(client_type, httpx.AsyncClient):
        inner = httpx.AsyncHTTPTransport(verify=ssl_verify, http2=http2, limits=limits, retries=0)
        hook = _add_trace_id_async
    else:
        inner = httpx.HTTPTransport(verify=ssl_verify, http2=http2, limits=limits, retries=0)
        hook = add_trace_id
    return client_type(
        base_url=base_url,
        transport=ProdObserveGuard(inner, policy, write_gate),
        timeout=timeout_s,
        headers=headers,
        event_hooks={"request": [hook]},
        trust_env=False,
    )


def _client_settings(
    target: SystemMap | str,
    env: str | None,
    verify: ssl.SSLContext | bool | Path | str | None,
    synthetic_identity: str | SyntheticIdentity | None,
) -> tuple[str, RequestPolicy, ssl.SSLContext | bool, dict[str, str]]:
    if isinstance(target, SystemMap):
        base_url = ""
        envs = {target.env} | ({env} if env is not None else set())
        effective_env = PROD_OBSERVE if PROD_OBSERVE in envs else (env or target.env)
        ca_bundle: Path | None = target.ca_bundle
    else:
        if env is None:
            raise ValueError("harness_client needs env= when the target is a base URL")
        base_url, effective_env, ca_bundle = target, env, None
    policy = RequestPolicy(effective_env)
    if verify is None:
        verify = ca_bundle if ca_bundle is not None else True
    if isinstance(verify, str | Path):
        # A context, not a path: httpx 0.28 deprecates verify=<path>.
        verify = ssl.create_default_context(cafile=str(verify))
    headers = {} if synthetic_identity is None else synthetic_headers(synthetic_identity)
    return base_url, policy, verify, headers


def printable_url(url: httpx.URL) -> str:
    """Scheme, host and path only: a query may carry data that must not reach a log."""
    host = f"[{url.host}]" if ":" in url.host else url.host
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{host}{port}{url.path}"
