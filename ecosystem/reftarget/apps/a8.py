"""A8, command center: telemetry ingest, SLO and event queries, dashboards.

The routes and the store are ``reftarget.telemetry``'s; A8's API takes its own bearer
(``A8_TELEMETRY_KEY``), so the core verifies no A1 tokens here and the ingest is outside the
§4 header rules. Ingest requests are not themselves turned into ``http_request`` events
(telemetry about telemetry delivery would feed on itself); every other route is.

A8's own events take the same emitter as everyone's (same sampling, same validation) but
reach the ingest route in-process (an ASGI transport), not over the network: an app that
posts to itself over HTTP keeps a connection open to its own server and stalls its own
graceful shutdown. The store stays open until the process ends, so the emitter's final
flush at shutdown still lands.
"""

from __future__ import annotations

import httpx
from starlette.applications import Starlette

from reftarget.core.app import AppDefinition, AppRuntime
from reftarget.core.db import app_data_dir
from reftarget.core.openapi import PackageRoutes
from reftarget.core.runtime import telemetry_emitter
from reftarget.core.settings import AppSettings
from reftarget.telemetry import TelemetryStore, a8_routes

ROLE = "command_center"
INGEST_ROUTE = "/v1/events"


def build(settings: AppSettings, runtime: AppRuntime) -> AppDefinition:
    store = TelemetryStore(
        app_data_dir(settings.state_dir, "A8") / "telemetry.sqlite3",
        runtime.clock,
        rule_enabled=runtime.faults.rule_enabled,
    )
    routes = a8_routes(store, settings.secrets["A8_TELEMETRY_KEY"])
    ingest_only = httpx.ASGITransport(app=Starlette(routes=routes))
    runtime.events.sink = telemetry_emitter(
        settings, runtime.clock, runtime.ssl_context, transport=ingest_only
    )

    return AppDefinition(
        role=ROLE,
        packages=[PackageRoutes(routes, tag="telemetry")],
        verifies_tokens=False,
        untracked_routes=frozenset({INGEST_ROUTE}),
    )
