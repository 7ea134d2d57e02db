"""Helpers shared by the telemetry tests (a uniquely named module, not ``conftest``).

A8 runs under uvicorn over HTTPS on 127.0.0.1 in a background thread, on a socket bound
first, so a test can hand out A8's URL before A8 listens (an A8 outage) and start it later
(A8 comes back).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from reftarget.telemetry import TelemetryStore, a8_routes, make_event, make_tags, new_event_id
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

A8_KEY = "a8-test-key-0123456789"
START = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


class FakeClock:
    """Moves only when told to."""

    def __init__(self, start: datetime = START) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def time(self) -> float:
        return self._now.timestamp()

    def monotonic(self) -> float:
        return self._now.timestamp()

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


def trace(low: int, high: int = 0xABCDEF) -> str:
    """A trace id with the given low and high 64 bits."""
    return f"{high:016x}{low:016x}"


def event(name: str = "page_published", **fields: Any) -> dict[str, Any]:
    """A complete, valid event with a fresh ``event_id`` (one emission); ``fields`` override."""
    base: dict[str, Any] = {
        "event_id": new_event_id(),
        "timestamp": "2026-11-26T03:00:00.000Z",
        "app_id": "A7",
        "trace_id": trace(1),
        "sample_rate": 1.0,
        "tags": make_tags(env="embedded"),
    }
    if name == "http_request":
        base |= {"route": "/health", "status": 200, "latency_ms": 5.0}
    return make_event(event=name, **(base | fields))


def finance(
    name: str = "checkout_completed", *, stripe: str | None = "pi_1", gross: int = 50, **fields: Any
) -> dict[str, Any]:
    """A valid money event with §7 finance_metrics."""
    metrics = {
        "currency": "usd",
        "gross_cents": gross,
        "fee_rate": None,
        "fee_cents": 0,
        "cost_cents": None,
        "markup": None,
        "billed_cents": None,
        "net_cents": gross,
        "stripe_object_id": stripe,
    }
    return event(name, **({"app_id": "A2", "finance_metrics": metrics} | fields))


async def eventually(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Wait until ``check()`` holds; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail("condition not met in time")
        await asyncio.sleep(0.02)


@dataclass(frozen=True)
class Tls:
    server_pem: Path
    ca_pem: Path
    client: ssl.SSLContext


class CountingApp:
    """Counts the POSTs that reach A8 (to see batching)."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.posts = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            self.posts += 1
        await self.app(scope, receive, send)


class A8Server:
    """A8 over HTTPS in a thread, on a socket bound (not yet listening) at creation."""

    def __init__(self, store: TelemetryStore, tls: Tls) -> None:
        self.store = store
        self.app = CountingApp(Starlette(routes=a8_routes(store, A8_KEY)))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"https://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(
            self.app,
            ssl_certfile=str(tls.server_pem),
            ssl_keyfile=str(tls.server_pem),
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            http="h11",
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("A8 test server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
        self.sock.close()
        self.store.close()
