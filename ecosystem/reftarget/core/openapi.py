"""Declared endpoints and the OpenAPI 3.1 document built from them (``GET /openapi.json``).

An app declares each of its routes once, as an ``Endpoint`` with a request example; the
factory turns the list into Starlette routes *and* into the published document, so the
document cannot drift from what is served. The harness discovers mutating routes here:
every operation covered by the §4 rules lists ``X-Idempotency-Key`` and ``X-Trace-Id`` as
required header parameters and 428 among its responses (``x-contract-rules: true``).
Routes owned by other packages (A1's OIDC routes, A8's API) are listed without bodies.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from reftarget.core.headers import MUTATING_METHODS

Handler = Callable[[Request], Awaitable[Response]]

_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
_CONTRACT_ERRORS = {
    "400": "Malformed X-Idempotency-Key, X-Trace-Id or traceparent, or conflicting trace headers",
    "401": "No valid bearer token from A1",
    "409": "A request with this key is still in flight",
    "422": "This key was used for a different request within the TTL",
    "428": "X-Idempotency-Key and/or X-Trace-Id missing",
}


@dataclass(frozen=True)
class Endpoint:
    """One route of an app, as served and as documented."""

    method: str
    path: str
    handler: Handler
    summary: str
    success_status: int = 200
    request_example: Mapping[str, Any] | None = None
    request_schema: Mapping[str, Any] | None = None
    public: bool = False  # served without an A1 token (landing pages, probes)
    protocol: bool = False  # outside the §4 header rules (e.g. the Stripe webhook)
    emits: tuple[str, ...] = ()
    response_media_type: str = "application/json"
    funnel_step: str | None = None  # published as x-funnel-step (contract §10)
    # False: served but left out of the document (the synthetic-identity deletion: a fixed
    # harness interface, docs/contract.md §5, whose {subject} no generic probe can fill)
    published: bool = True
    student_records: bool = False  # a GET answering with student records: x-student-records

    def route(self) -> Route:
        return Route(self.path, self.handler, methods=[self.method])


@dataclass(frozen=True)
class PackageRoutes:
    """Routes built by another package; ``public``/``protocol`` as for ``Endpoint``."""

    routes: Sequence[BaseRoute]
    public: bool = True
    protocol: bool = True
    tag: str = "protocol"
    funnel_steps: Mapping[str, str] = field(default_factory=dict)  # path -> x-funnel-step


def _header(name: str, pattern: str, required: bool, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "description": description,
        "schema": {"type": "string", "pattern": pattern},
    }


_MUTATION_HEADERS = [
    _header(
        "X-Idempotency-Key",
        r"^[\x21-\x2b\x2d-\x7e]{1,255}$",
        True,
        "1-255 visible ASCII characters, no commas; scope (tenant, method, route, key); 15 min",
    ),
    _header(
        "X-Trace-Id",
        "^(?!0{32})[0-9a-f]{32}$",
        True,
        "32 lowercase hex digits, not all zero (a valid traceparent may supply it instead)",
    ),
    _header("traceparent", "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}", False, "W3C"),
]
_TAG_HEADERS = [
    _header("X-Test-Run", "^(true|false)$", False, "true marks synthetic traffic"),
    _header("X-Source", "^.{1,64}$", False, "traffic source, e.g. qa"),
]


def _path_parameters(path: str) -> list[dict[str, Any]]:
    names = [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in names
    ]


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    contract_rules = endpoint.method in MUTATING_METHODS and not endpoint.protocol
    parameters = _path_parameters(endpoint.path) + _TAG_HEADERS
    responses: dict[str, Any] = {
        str(endpoint.success_status): {
            "description": "Success",
            "content": {endpoint.response_media_type: {}},
        }
    }
    if not endpoint.public:
        responses["401"] = {"description": _CONTRACT_ERRORS["401"], "content": _PROBLEM}
    if "{" in endpoint.path:
        responses["404"] = {"description": "No such resource for this tenant", "content": _PROBLEM}
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        "operationId": f"{endpoint.method.lower()}_{endpoint.path.strip('/').replace('/', '_')}",
        "x-contract-rules": contract_rules,
        "x-emits": list(endpoint.emits),
    }
    if endpoint.funnel_step is not None:
        operation["x-funnel-step"] = endpoint.funnel_step
    if endpoint.student_records:
        operation["x-student-records"] = True  # FERPA scope (contract §14)
    if contract_rules:
        parameters = _MUTATION_HEADERS + parameters
        for status in ("400", "409", "422", "428"):
            responses[status] = {"description": _CONTRACT_ERRORS[status], "content": _PROBLEM}
    if endpoint.method in MUTATING_METHODS and endpoint.request_example is not None:
        schema = dict(endpoint.request_schema or {"type": "object"})
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": schema, "example": endpoint.request_example}
            },
        }
    operation["parameters"] = parameters
    operation["responses"] = responses
    if not endpoint.public:
        operation["security"] = [{"bearerAuth": []}]
    return operation


def _package_operation(route: Route, package: PackageRoutes) -> dict[str, Any]:
    doc = inspect.getdoc(route.endpoint) or route.name
    operation: dict[str, Any] = {
        "summary": doc.splitlines()[0],
        "tags": [package.tag],
        "x-contract-rules": False,
        "responses": {"default": {"description": "See the owning package's documentation"}},
    }
    step = package.funnel_steps.get(route.path)
    if step is not None:
        operation["x-funnel-step"] = step
    return operation


def openapi_document(
    *,
    app_id: str,
    role: str,
    version: str,
    endpoints: Sequence[Endpoint],
    packages: Sequence[PackageRoutes] = (),
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of one app."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        if endpoint.published:
            paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    for package in packages:
        for route in package.routes:
            if not isinstance(route, Route):
                continue
            for method in sorted((route.methods or set()) - {"HEAD"}):
                paths.setdefault(route.path, {})[method.lower()] = _package_operation(
                    route, package
                )
    return {
        "openapi": "3.1.0",
        "info": {"title": f"reftarget {app_id} ({role})", "version": version},
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status", "detail"],
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                    },
                }
            },
        },
    }
