"""The app factory every reference app is built with.

One place decides the request pipeline, in the contract's order (outermost first):
envelope (context, ``X-Trace-Id`` echo, ``http_request`` event) → faults → auth →
header rules → idempotency → the app's routes. It also adds ``/health``, ``/ready``,
``/openapi.json`` and ``/_admin/faults``, and maps errors to problem+json.
"""

from __future__ import annotations

import sqlite3
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from reftarget.core.admin import ADMIN_PREFIX, fault_routes
from reftarget.core.auth import Authenticator, AuthMiddleware, ResourceNotFound
from reftarget.core.body import InvalidBody
from reftarget.core.clock import TargetClock
from reftarget.core.context import RequestContext
from reftarget.core.cookie_fault import CookieFaultMiddleware
from reftarget.core.envelope import EnvelopeMiddleware
from reftarget.core.events import EventRecorder
from reftarget.core.fault_injection import FaultInjectionMiddleware
from reftarget.core.faults import Faults
from reftarget.core.header_rules import HeaderRulesMiddleware
from reftarget.core.headers import MUTATING_METHODS
from reftarget.core.idempotency import IdempotencyStore
from reftarget.core.idempotency_middleware import IdempotencyMiddleware
from reftarget.core.openapi import Endpoint, PackageRoutes, openapi_document
from reftarget.core.problem import problem_response
from reftarget.core.readiness import Readiness, ReadyCheck

PROBE_ROUTES = frozenset({"/health", "/ready", "/openapi.json"})
Hook = Callable[[], Awaitable[None]]
ExceptionHandler = Callable[[Request, Exception], Response]


@dataclass
class AppRuntime:
    """The shared services of one app process (built once, handed to the app module)."""

    app_id: str
    env: str
    version: str
    admin_token: str
    clock: TargetClock
    db: sqlite3.Connection
    faults: Faults
    events: EventRecorder
    ssl_context: ssl.SSLContext
    http: httpx.AsyncClient  # outgoing calls (readiness, other apps): kept-alive TLS


@dataclass(frozen=True)
class AppDefinition:
    """What an app module contributes: its role, routes, extra checks and hooks."""

    role: str
    endpoints: Sequence[Endpoint] = ()
    packages: Sequence[PackageRoutes] = ()
    ready_checks: Mapping[str, ReadyCheck] = field(default_factory=dict)
    verifies_tokens: bool = True
    untracked_routes: frozenset[str] = frozenset()
    on_startup: Sequence[Hook] = ()
    on_shutdown: Sequence[Hook] = ()
    exception_handlers: Mapping[type[Exception], ExceptionHandler] = field(default_factory=dict)
    # Verifies tokens in-process instead of over A1's JWKS: A1's own (it signs them).
    authenticator: Authenticator | None = None


@dataclass(frozen=True)
class RoutePolicy:
    """Which (method, route template) pairs skip auth and which skip the §4 header rules."""

    public: frozenset[tuple[str, str]]
    protocol: frozenset[tuple[str, str]]
    verifies_tokens: bool
    funnel: frozenset[tuple[str, str]] = frozenset()  # operations marked x-funnel-step

    @classmethod
    def of(cls, definition: AppDefinition) -> RoutePolicy:
        public = {("GET", path) for path in PROBE_ROUTES}
        protocol: set[tuple[str, str]] = set()
        funnel: set[tuple[str, str]] = set()
        for endpoint in definition.endpoints:
            if endpoint.public:
                public.add((endpoint.method, endpoint.path))
            if endpoint.funnel_step is not None:
                funnel.add((endpoint.method, endpoint.path))
            if endpoint.protocol:
                protocol.add((endpoint.method, endpoint.path))
        for package in definition.packages:
            for route in package.routes:
                if not isinstance(route, Route):
                    continue
                pairs = {(method, route.path) for method in route.methods or ()}
                if package.public:
                    public |= pairs
                if package.protocol:
                    protocol |= pairs
        return cls(
            frozenset(public), frozenset(protocol), definition.verifies_tokens, frozenset(funnel)
        )

    def needs_token(self, context: RequestContext) -> bool:
        if not self.verifies_tokens or context.method == "OPTIONS":
            return False
        if context.path.startswith(ADMIN_PREFIX):
            return False
        method = "GET" if context.method == "HEAD" else context.method  # HEAD is GET's twin
        return context.route is None or (method, context.route) not in self.public

    def has_contract_rules(self, context: RequestContext) -> bool:
        return (
            context.method in MUTATING_METHODS
            and context.route is not None
            and not context.path.startswith(ADMIN_PREFIX)
            and (context.method, context.route) not in self.protocol
        )

    def enforces_contract_rules(self, context: RequestContext, faults: Faults) -> bool:
        """The §4 rules apply, unless the ``funnel_headers`` fault exempts funnel steps."""
        exempt = (context.method, context.route) in self.funnel
        if exempt and not faults.rule_enabled("funnel_headers"):
            return False
        return self.has_contract_rules(context)


def _problem_for_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    detail = (
        exc.detail if exc.status_code not in (404, 405) else f"{request.method} {request.url.path}"
    )
    return problem_response(exc.status_code, slug, str(detail), headers=exc.headers)


def _problem_for_not_found(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ResourceNotFound)
    return problem_response(
        404, "not-found", f"No {exc.resource} {exc.resource_id} for this tenant."
    )


def _problem_for_invalid_body(request: Request, exc: Exception) -> Response:
    return problem_response(400, "invalid-body", str(exc))


def create_app(
    runtime: AppRuntime,
    definition: AppDefinition,
    *,
    authenticator: Authenticator | None,
    ready_checks: Mapping[str, ReadyCheck],
) -> Starlette:
    """A Starlette app with the full contract pipeline around ``definition``'s routes."""
    if definition.verifies_tokens and authenticator is None:
        raise ValueError(f"{runtime.app_id} verifies tokens but no authenticator was given")
    readiness = Readiness(ready_checks, runtime.faults)
    document = openapi_document(
        app_id=runtime.app_id,
        role=definition.role,
        version=runtime.version,
        endpoints=definition.endpoints,
        packages=definition.packages,
    )

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "app_id": runtime.app_id, "version": runtime.version})

    async def ready(request: Request) -> Response:
        is_ready, checks = await readiness.evaluate()
        return JSONResponse(
            {"status": "ready" if is_ready else "not_ready", "checks": checks},
            status_code=200 if is_ready else 503,
            headers={"Cache-Control": "no-store"},
        )

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    routes: list[BaseRoute] = [
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *fault_routes(runtime.faults, runtime.admin_token),
        *(endpoint.route() for endpoint in definition.endpoints),
        *(route for package in definition.packages for route in package.routes),
    ]
    policy = RoutePolicy.of(definition)

    def applies(context: RequestContext) -> bool:
        return policy.enforces_contract_rules(context, runtime.faults)

    store = IdempotencyStore(runtime.db, runtime.clock)
    middleware = [
        Middleware(
            EnvelopeMiddleware,
            app_id=runtime.app_id,
            env=runtime.env,
            routes=routes,
            recorder=runtime.events,
            untracked_routes=definition.untracked_routes,
        ),
        Middleware(FaultInjectionMiddleware, faults=runtime.faults),
        Middleware(CookieFaultMiddleware, faults=runtime.faults),
    ]
    if authenticator is not None:
        middleware.append(
            Middleware(AuthMiddleware, authenticator=authenticator, needs_token=policy.needs_token)
        )
    middleware += [
        Middleware(HeaderRulesMiddleware, faults=runtime.faults, applies=applies),
        Middleware(
            IdempotencyMiddleware,
            store=store,
            faults=runtime.faults,
            applies=applies,
        ),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.events.sink.start()
        for hook in definition.on_startup:
            await hook()
        try:
            yield
        finally:
            for hook in definition.on_shutdown:
                await hook()
            await runtime.events.sink.aclose()
            await runtime.http.aclose()

    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            HTTPException: _problem_for_http_exception,
            ResourceNotFound: _problem_for_not_found,
            InvalidBody: _problem_for_invalid_body,
            **definition.exception_handlers,
        },
        lifespan=lifespan,
    )
