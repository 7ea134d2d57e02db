"""Applies the request-path faults: cold-start wait, added latency, injected 503s.

It runs right after the envelope, before auth, so an injected 503 costs the app nothing
(like a load balancer shedding load) and still shows up in the app's own telemetry.
``/_admin/*`` is never faulted; ``/health`` and ``/ready`` answer during a cold start
(``/ready`` says not ready) but take the latency and 503 faults like any route.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send

from reftarget.core.admin import ADMIN_PREFIX
from reftarget.core.context import SCOPE_KEY, RequestContext
from reftarget.core.faults import Faults
from reftarget.core.problem import problem_response

PROBE_PATHS = frozenset({"/health", "/ready"})


class FaultInjectionMiddleware:
    """ASGI middleware; see the module docstring for what it does to which paths."""

    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        context = scope.get(SCOPE_KEY)
        if not isinstance(context, RequestContext) or context.path.startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        if context.path not in PROBE_PATHS:
            self.faults.start_lazy_warmup()
        warming = self.faults.cold_start_remaining_s()
        if warming > 0 and context.path not in PROBE_PATHS:
            await asyncio.sleep(warming)
        latency_ms = self.faults.settings.added_latency_ms
        if latency_ms > 0:
            await asyncio.sleep(latency_ms / 1000)
        if self.faults.fails_with_503(context.trace_id):
            response = problem_response(
                503,
                "injected-unavailable",
                "Unavailable (injected by the error_503_fraction fault); retry later.",
                headers={"Retry-After": "1"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
