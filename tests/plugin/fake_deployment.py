"""A fake deployment for discovery tests: eight apps under /a1 … /a8 of one server."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def fake_apps() -> Starlette:
    """Eight apps under /a1 … /a8 of one server; A5 has no /openapi.json, A2 is not ready."""

    async def health(request: Request) -> Response:
        app = request.path_params["app"]
        return JSONResponse({"status": "ok", "app_id": app.upper(), "version": f"{app}-1.2.3"})

    async def ready(request: Request) -> Response:
        if request.path_params["app"] == "a2":
            return JSONResponse({"status": "not_ready", "checks": {}}, status_code=503)
        return JSONResponse({"status": "ready", "checks": {}})

    async def openapi(request: Request) -> Response:
        if request.path_params["app"] == "a5":
            return JSONResponse({"title": "Not Found"}, status_code=404)
        paths = {
            "/health": {"get": {}},
            "/v1/things": {"get": {}, "post": {}, "parameters": []},
        }
        return JSONResponse({"openapi": "3.1.0", "paths": paths})

    return Starlette(
        routes=[
            Route("/{app}/health", health),
            Route("/{app}/ready", ready),
            Route("/{app}/openapi.json", openapi),
        ]
    )
