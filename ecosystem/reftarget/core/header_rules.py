"""Enforces the mutation header rules of contract §4: 428 when missing, 400 when malformed.

Runs after authentication and before idempotency, on POST/PUT/PATCH/DELETE to a known
route that is not a protocol endpoint (OIDC, A8 ingest, the Stripe webhook, admin).
Every answer here is ``Cache-Control: no-store`` (RFC 6585 §3: a 428 must not be cached)
and nothing behind this layer runs, so there is no side effect to undo.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from reftarget.core.context import SCOPE_KEY, RequestContext
from reftarget.core.faults import Faults
from reftarget.core.headers import (
    IDEMPOTENCY_KEY_HEADER,
    TRACE_ID_HEADER,
    TRACEPARENT_HEADER,
    resolve_idempotency_key,
    resolve_trace_headers,
)
from reftarget.core.problem import problem_response

NO_STORE = {"Cache-Control": "no-store"}

RESUBMIT_HINT = (
    f"Resubmit the same request with {IDEMPOTENCY_KEY_HEADER} (1-255 visible ASCII characters, "
    f"no commas; e.g. a UUID, reused unchanged on every retry) and {TRACE_ID_HEADER} "
    f"(32 lowercase hex digits, not all zero; or a valid W3C {TRACEPARENT_HEADER})."
)


class HeaderRulesMiddleware:
    """ASGI middleware for the §4 header rules on the routes ``applies`` selects."""

    def __init__(
        self,
        app: ASGIApp,
        faults: Faults,
        applies: Callable[[RequestContext], bool],
    ) -> None:
        self.app = app
        self.faults = faults
        self.applies = applies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        context = scope.get(SCOPE_KEY)
        if not isinstance(context, RequestContext) or not self.applies(context):
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        trace = resolve_trace_headers(headers)
        key = resolve_idempotency_key(headers)
        problems = [p for p in (trace.problem, key.problem) if p is not None]
        if problems:
            response = problem_response(
                400, "malformed-header", " ".join(problems) + " " + RESUBMIT_HINT, headers=NO_STORE
            )
            await response(scope, receive, send)
            return
        missing = []
        if key.key is None:
            missing.append(IDEMPOTENCY_KEY_HEADER)
        if trace.trace_id is None:
            missing.append(TRACE_ID_HEADER)
        if missing and self.faults.rule_enabled("require_428"):
            response = problem_response(
                428,
                "missing-required-header",
                f"This mutation requires {' and '.join(missing)}. {RESUBMIT_HINT}",
                headers=NO_STORE,
                missing_headers=missing,
            )
            await response(scope, receive, send)
            return
        context.idempotency_key = key.key
        await self.app(scope, receive, send)
