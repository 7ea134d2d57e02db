"""Builds the real ``AppRuntime`` of one app process from its settings.

The composition that tests replace: unit tests build an ``AppRuntime`` by hand with an
in-memory event sink, while a served app gets the telemetry emitter that posts to A8.
"""

from __future__ import annotations

import ssl

import httpx

from reftarget.core.app import AppRuntime
from reftarget.core.auth import BearerAuthenticator
from reftarget.core.clock import TargetClock
from reftarget.core.db import app_data_dir, app_db_path, open_database
from reftarget.core.events import EventRecorder
from reftarget.core.faults import Faults
from reftarget.core.latency import RollingLatency
from reftarget.core.readiness import ReadyCheck, database_check, http_check
from reftarget.core.settings import AppSettings, package_version
from reftarget.core.tls import client_ssl_context
from reftarget.telemetry.emitter import TelemetryEmitter

TELEMETRY_APP = "A8"
IDENTITY_APP = "A1"


def telemetry_emitter(
    settings: AppSettings,
    clock: TargetClock,
    ssl_context: ssl.SSLContext,
    transport: httpx.AsyncBaseTransport | None = None,
) -> TelemetryEmitter:
    """The emitter that delivers this app's events to A8 (``transport``: in-process, for A8)."""
    return TelemetryEmitter(
        settings.topology.base_urls[TELEMETRY_APP],
        settings.secrets["A8_TELEMETRY_KEY"],
        verify=ssl_context,
        app_id=settings.app_id,
        env=settings.topology.env,
        clock=clock,
        spool_path=app_data_dir(settings.state_dir, settings.app_id) / "telemetry-spool.sqlite3",
        transport=transport,
    )


def build_runtime(settings: AppSettings) -> AppRuntime:
    """Clock, database, emitter, faults and event recorder of one app."""
    app_id = settings.app_id
    clock = TargetClock()
    ssl_context = client_ssl_context(settings.topology.tls.ca_pem)
    emitter = telemetry_emitter(settings, clock, ssl_context)
    events = EventRecorder(emitter, RollingLatency(), app_id=app_id, clock=clock)
    # Through the recorder, so an app that replaces its sink (A8) keeps the fault working.
    faults = Faults(
        clock,
        lambda fraction: events.sink.set_drop_fraction(fraction),
        cold_start_s=settings.cold_start_s,
        disabled_rules=settings.disabled_rules,
    )
    return AppRuntime(
        app_id=app_id,
        env=settings.topology.env,
        version=package_version(),
        admin_token=settings.secrets["REFTARGET_ADMIN_TOKEN"],
        clock=clock,
        db=open_database(app_db_path(settings.state_dir, app_id)),
        faults=faults,
        events=events,
        ssl_context=ssl_context,
        http=httpx.AsyncClient(verify=ssl_context, trust_env=False, timeout=5.0),
    )


def build_authenticator(settings: AppSettings, runtime: AppRuntime) -> BearerAuthenticator:
    """Verifies A1 tokens against A1's JWKS over the embedded CA."""
    issuer = settings.topology.base_urls[IDENTITY_APP]
    return BearerAuthenticator(
        issuer=issuer,
        jwks_url=f"{issuer}/jwks.json",
        ssl_context=runtime.ssl_context,
        faults=runtime.faults,
    )


def standard_ready_checks(
    settings: AppSettings, runtime: AppRuntime, *, verifies_tokens: bool
) -> dict[str, ReadyCheck]:
    """Its database; A1's JWKS if it verifies tokens; A8 if it is not A8 itself."""
    urls = settings.topology.base_urls
    checks: dict[str, ReadyCheck] = {"database": database_check(runtime.db)}
    if verifies_tokens:
        checks["identity_jwks"] = http_check(f"{urls[IDENTITY_APP]}/jwks.json", runtime.http)
    if settings.app_id != TELEMETRY_APP:
        checks["telemetry"] = http_check(f"{urls[TELEMETRY_APP]}/health", runtime.http)
    return checks
