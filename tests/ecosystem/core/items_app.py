"""A small app built with the real factory and fake edges (event sink, token verifier).

Every core rule is exercised through the same pipeline the eight apps use; only the two
network edges are replaced: events land in a list, and tokens are ``tok:<tenant>:<sub>``.
"""

from __future__ import annotations

import itertools
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from reftarget.core.app import AppDefinition, AppRuntime, create_app
from reftarget.core.auth import fetch_for_tenant
from reftarget.core.body import json_object, text_field
from reftarget.core.clock import TargetClock
from reftarget.core.context import request_context
from reftarget.core.db import open_database
from reftarget.core.events import EventRecorder
from reftarget.core.faults import Faults
from reftarget.core.latency import RollingLatency
from reftarget.core.openapi import Endpoint
from reftarget.core.readiness import database_check
from reftarget.identity.verifier import Claims, InvalidToken
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

ADMIN_TOKEN = "admin-secret-for-tests"


class ListSink:
    """Collects emitted events; records the drop fraction the faults set."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.drop_fraction = 0.0

    def emit(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def set_drop_fraction(self, fraction: float) -> None:
        self.drop_fraction = fraction

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == name]


class FakeAuthenticator:
    """Accepts ``tok:<tenant>:<subject>``."""

    async def authenticate(self, token: str) -> Claims:
        parts = token.split(":")
        if len(parts) != 3 or parts[0] != "tok":
            raise InvalidToken("malformed")
        return Claims(parts[2], parts[1], "reftarget", {})


def bearer(tenant: str = "tenant_a", subject: str = "alice") -> dict[str, str]:
    return {"Authorization": f"Bearer tok:{tenant}:{subject}"}


@dataclass
class ItemsApp:
    """The app under test and what it did."""

    client: httpx.AsyncClient
    runtime: AppRuntime
    sink: ListSink
    effects: list[str] = field(default_factory=list)
    control: dict[str, Any] = field(default_factory=dict)


def build_items_app(tmp_path: Path) -> tuple[Any, AppRuntime, ListSink, list[str], dict[str, Any]]:
    clock = TargetClock()
    sink = ListSink()
    events = EventRecorder(sink, RollingLatency(), app_id="A4", clock=clock)
    faults = Faults(clock, sink.set_drop_fraction)
    db = open_database(tmp_path / "app.sqlite3")
    db.executescript(
        "CREATE TABLE IF NOT EXISTS items (id TEXT PRIMARY KEY, tenant_id TEXT, name TEXT)"
    )
    runtime = AppRuntime(
        app_id="A4",
        env="test",
        version="0.0.test",
        admin_token=ADMIN_TOKEN,
        clock=clock,
        db=db,
        faults=faults,
        events=events,
        ssl_context=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT),
        http=httpx.AsyncClient(trust_env=False),
    )
    effects: list[str] = []
    counter = itertools.count(1)
    control: dict[str, Any] = {"gate": None}

    async def create_item(request: Request) -> Response:
        context = request_context(request)
        name = text_field(await json_object(request), "name")
        gate = control["gate"]
        if gate is not None:
            await gate.wait()
        item_id = f"item{next(counter)}"
        effects.append(item_id)
        db.execute("INSERT INTO items VALUES (?, ?, ?)", (item_id, context.tenant_id, name))
        events.business(context, "page_build_requested", status=201)
        return JSONResponse(
            {"id": item_id, "name": name},
            status_code=201,
            headers={"Location": f"/v1/items/{item_id}", "Set-Cookie": "x=1"},
        )

    async def get_item(request: Request) -> Response:
        context = request_context(request)
        row = fetch_for_tenant(
            db, "items", request.path_params["item_id"], context.tenant_id, faults
        )
        return JSONResponse({"id": row["id"], "name": row["name"]})

    async def crash(request: Request) -> Response:
        raise RuntimeError("boom")

    async def unavailable(request: Request) -> Response:
        effects.append("unavailable")
        return JSONResponse({"error": "downstream"}, status_code=503)

    async def hook(request: Request) -> Response:
        effects.append("hook")
        return JSONResponse({"received": True})

    async def public(request: Request) -> Response:
        response = JSONResponse({"public": True})
        response.set_cookie("session", "v", secure=True, httponly=True, samesite="none")
        return response

    definition = AppDefinition(
        role="content",
        endpoints=[
            Endpoint(
                "POST",
                "/v1/items",
                create_item,
                "Create",
                success_status=201,
                request_example={"name": "x"},
            ),
            Endpoint("GET", "/v1/items/{item_id}", get_item, "Read"),
            Endpoint("POST", "/v1/crash", crash, "Crash", request_example={}),
            Endpoint("POST", "/v1/unavailable", unavailable, "503", request_example={}),
            Endpoint("POST", "/hook", hook, "Protocol", public=True, protocol=True),
            Endpoint("GET", "/pub", public, "Public", public=True),
        ],
    )
    app = create_app(
        runtime,
        definition,
        authenticator=FakeAuthenticator(),
        ready_checks={"database": database_check(db)},
    )
    return app, runtime, sink, effects, control


_keys = itertools.count()


def mutation_headers(tenant: str = "tenant_a", **extra: str) -> dict[str, str]:
    """Valid auth, a fresh key and a fresh trace id (override any with ``extra``)."""
    n = next(_keys)
    headers = {
        **bearer(tenant),
        "X-Idempotency-Key": f"key-{n}-{id(_keys)}",
        "X-Trace-Id": f"{n + 1:032x}",
    }
    headers.update(extra)
    return headers
