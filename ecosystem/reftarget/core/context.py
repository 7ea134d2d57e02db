"""The per-request facts every layer shares: route template, trace id, key, tenant, tags.

The envelope middleware creates one ``RequestContext`` per HTTP request and stores it in
the ASGI scope; the later layers fill in what they learn (the idempotency key, the
verified claims) and handlers read it through :func:`request_context`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import Scope

SCOPE_KEY = "reftarget.context"
UNMATCHED_ROUTE = "/{unmatched}"  # one label for every 404/405 path (bounded cardinality)


@dataclass(frozen=True)
class Tags:
    """The event tags of contract §5: synthetic traffic is marked at the source."""

    test_run: bool
    source: str | None
    env: str

    def as_dict(self) -> dict[str, object]:
        return {"test_run": self.test_run, "source": self.source, "env": self.env}


@dataclass
class RequestContext:
    """Mutable per-request record; fields are filled in as the middleware layers run."""

    app_id: str
    method: str
    path: str
    route: str | None
    trace_id: str
    trace_id_from_request: bool
    tags: Tags
    started_at: float
    idempotency_key: str | None = None
    subject: str | None = None
    tenant_id: str | None = None
    scope_grants: frozenset[str] = field(default_factory=frozenset)
    status: int | None = None

    def principal(self) -> tuple[str, str]:
        """(tenant, subject) of the verified token; only on routes that require one."""
        if self.tenant_id is None or self.subject is None:
            raise RuntimeError(f"{self.method} {self.path} has no authenticated principal")
        return self.tenant_id, self.subject

    @property
    def route_label(self) -> str:
        """The route template for telemetry; unmatched paths share one label."""
        return self.route if self.route is not None else UNMATCHED_ROUTE


def new_trace_id() -> str:
    """A fresh random W3C-format trace id (never all zero: 128 random bits)."""
    while True:
        candidate = secrets.token_hex(16)
        if candidate != "0" * 32:
            return candidate


def request_context(connection: HTTPConnection) -> RequestContext:
    """The context of the current request (set by the envelope middleware)."""
    context = connection.scope.get(SCOPE_KEY)
    if not isinstance(context, RequestContext):
        raise RuntimeError("request context missing: the app was not built by create_app")
    return context


def route_template(routes: list[BaseRoute], scope: Scope) -> str | None:
    """The template (e.g. ``/v1/runs/{run_id}``) of the route that fully matches the request.

    A path that matches with another method (405) or not at all (404) has no template.
    """
    for route in routes:
        match, child = route.matches(scope)
        if match is not Match.FULL:
            continue
        if isinstance(route, Mount):
            inner = route_template(route.routes, {**scope, **child})
            return None if inner is None else route.path + inner
        if isinstance(route, Route):
            return route.path
        return None
    return None
