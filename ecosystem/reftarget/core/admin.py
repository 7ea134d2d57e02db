"""The admin plane: ``/_admin/faults`` behind ``REFTARGET_ADMIN_TOKEN`` (contract §9).

Admin routes sit outside the contract's request pipeline: no A1 token, no header rules,
no idempotency and no injected faults, so a test can always switch a fault back off.
"""

from __future__ import annotations

import hmac
import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from reftarget.core.faults import Faults, FaultValidationError
from reftarget.core.problem import problem_response

ADMIN_PREFIX = "/_admin/"


def admin_token_matches(request: Request, admin_token: str) -> bool:
    """Constant-time check of ``Authorization: Bearer <admin token>``."""
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), admin_token.encode()
    )


def _unauthorized() -> Response:
    return problem_response(
        401,
        "admin-token-required",
        "This admin endpoint needs Authorization: Bearer <REFTARGET_ADMIN_TOKEN>.",
        headers={"WWW-Authenticate": 'Bearer realm="reftarget-admin"'},
    )


def fault_routes(faults: Faults, admin_token: str) -> list[BaseRoute]:
    """``GET`` shows, ``POST`` merges (JSON object of switches), ``DELETE`` clears."""

    async def show(request: Request) -> Response:
        if not admin_token_matches(request, admin_token):
            return _unauthorized()
        return JSONResponse(faults.describe())

    async def change(request: Request) -> Response:
        if not admin_token_matches(request, admin_token):
            return _unauthorized()
        try:
            changes = json.loads(await request.body())
        except ValueError:
            return problem_response(400, "invalid-json", "The body must be a JSON object.")
        if not isinstance(changes, dict):
            return problem_response(400, "invalid-json", "The body must be a JSON object.")
        try:
            faults.update(changes)
        except FaultValidationError as exc:
            return problem_response(400, "invalid-fault", str(exc))
        return JSONResponse(faults.describe())

    async def clear(request: Request) -> Response:
        if not admin_token_matches(request, admin_token):
            return _unauthorized()
        faults.clear()
        return JSONResponse(faults.describe())

    return [
        Route("/_admin/faults", show, methods=["GET"]),
        Route("/_admin/faults", change, methods=["POST"]),
        Route("/_admin/faults", clear, methods=["DELETE"]),
    ]
