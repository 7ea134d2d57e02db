"""The outermost layer of every app: what happens to *every* HTTP request.

It creates the ``RequestContext`` (route template, trace id, synthetic tags), echoes
``X-Trace-Id`` on every response (the request's usable trace id, else a new one), turns an
unhandled exception into a 500 problem (so even a crash carries the trace id), and after
the response emits the ``http_request`` event with the route's rolling p95.
"""

from __future__ import annotations

import logging
import time

from starlette.datastructures import MutableHeaders
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reftarget.core.context import SCOPE_KEY, RequestContext, Tags, new_trace_id, route_template
from reftarget.core.events import EventRecorder
from reftarget.core.headers import TRACE_ID_HEADER, header_values, resolve_trace_headers
from reftarget.core.problem import problem_response

logger = logging.getLogger("reftarget.request")

MAX_SOURCE_LENGTH = 64


def synthetic_tags(scope: Scope, env: str) -> Tags:
    """``X-Test-Run: true`` and ``X-Source`` become the event tags of contract §5."""
    test_run = [v.strip().lower() for v in header_values(scope["headers"], "X-Test-Run")]
    sources = header_values(scope["headers"], "X-Source")
    source = sources[0].strip()[:MAX_SOURCE_LENGTH] if sources and sources[0].strip() else None
    return Tags(test_run=test_run == ["true"], source=source, env=env)


class EnvelopeMiddleware:
    """ASGI middleware; see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        app_id: str,
        env: str,
        routes: list[BaseRoute],
        recorder: EventRecorder,
        untracked_routes: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.app_id = app_id
        self.env = env
        self.routes = routes
        self.recorder = recorder
        self.untracked_routes = untracked_routes

    def _context(self, scope: Scope) -> RequestContext:
        trace = resolve_trace_headers(scope["headers"])
        return RequestContext(
            app_id=self.app_id,
            method=scope["method"],
            path=scope["path"],
            route=route_template(self.routes, scope),
            trace_id=trace.trace_id or new_trace_id(),
            trace_id_from_request=trace.trace_id is not None,
            tags=synthetic_tags(scope, self.env),
            started_at=time.perf_counter(),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        context = self._context(scope)
        scope[SCOPE_KEY] = context
        started = False

        async def echo_trace_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                context.status = int(message["status"])
                MutableHeaders(scope=message)[TRACE_ID_HEADER] = context.trace_id
            await send(message)

        try:
            await self.app(scope, receive, echo_trace_id)
        except Exception:
            logger.exception("unhandled error on %s %s", context.method, context.route_label)
            if not started:
                response = problem_response(
                    500,
                    "internal-error",
                    f"The request failed unexpectedly; quote trace id {context.trace_id}.",
                )
                await response(scope, receive, echo_trace_id)
        finally:
            if context.route not in self.untracked_routes:
                latency_ms = (time.perf_counter() - context.started_at) * 1000
                self.recorder.http_request(context, context.status or 500, latency_ms)
