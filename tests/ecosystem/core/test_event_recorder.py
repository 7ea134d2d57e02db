"""The request path's events carry the request's fields: ``http_request`` and a business
event built from one context alike, the business event with its own money and data."""

from __future__ import annotations

import time
from typing import Any

from reftarget.core.clock import TargetClock
from reftarget.core.context import RequestContext, Tags
from reftarget.core.events import EventRecorder
from reftarget.core.latency import RollingLatency

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
REQUEST_FIELDS = ("app_id", "route", "status", "trace_id", "idempotency_key", "tenant_id")


class Sink:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def emit(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def set_drop_fraction(self, fraction: float) -> None:
        pass

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


def test_both_kinds_of_request_event_carry_the_requests_fields() -> None:
    sink = Sink()
    recorder = EventRecorder(sink, RollingLatency(), app_id="A5", clock=TargetClock())
    context = RequestContext(
        app_id="A5",
        method="POST",
        path="/v1/credits/spend",
        route="/v1/credits/spend",
        trace_id=TRACE,
        trace_id_from_request=True,
        tags=Tags(test_run=True, source="qa", env="embedded"),
        started_at=time.perf_counter(),
        idempotency_key="key-1",
        tenant_id="tenant-a",
    )

    recorder.business(context, "credit_decrement", status=201, data={"credits": 4})
    recorder.http_request(context, 201, 12.3456)

    business, request = sink.events
    assert [business[k] for k in REQUEST_FIELDS] == [request[k] for k in REQUEST_FIELDS]
    assert [request[k] for k in REQUEST_FIELDS] == [
        "A5",
        "/v1/credits/spend",
        201,
        TRACE,
        "key-1",
        "tenant-a",
    ]
    assert (request["event"], request["latency_ms"], request["p95_ms"]) == (
        "http_request",
        12.346,
        12.346,
    )
    assert (business["event"], business["data"]) == ("credit_decrement", {"credits": 4})
    assert (
        business["tags"] == request["tags"] == {"test_run": True, "source": "qa", "env": "embedded"}
    )
