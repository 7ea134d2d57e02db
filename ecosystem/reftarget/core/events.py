"""Telemetry events of the request path: one ``http_request`` per request, business events.

Everything an event needs that the request knows (route template, trace id, key, tenant,
tags, latency so far, the route's rolling p95) is filled in here from the
``RequestContext``, so a handler names only the event and its money fields. The sink (the
telemetry emitter) decides sampling and never blocks. A bug that builds an invalid event
is logged, never raised into the request it describes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, Protocol

from reftarget.core.clock import TargetClock
from reftarget.core.context import RequestContext, Tags
from reftarget.core.latency import RollingLatency
from reftarget.telemetry.schema import EventError, make_event

logger = logging.getLogger("reftarget.events")


class EventSink(Protocol):
    """What the core needs from ``telemetry.emitter.TelemetryEmitter``."""

    def emit(self, event: dict[str, Any]) -> None: ...

    def set_drop_fraction(self, fraction: float) -> None: ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


def round_ms(value: float) -> float:
    return round(value, 3)


class EventRecorder:
    """Builds complete §6 events for one app and hands them to the sink."""

    def __init__(
        self, sink: EventSink, latencies: RollingLatency, *, app_id: str, clock: TargetClock
    ) -> None:
        self.sink = sink
        self.latencies = latencies
        self.app_id = app_id
        self.clock = clock

    def http_request(self, context: RequestContext, status: int, latency_ms: float) -> None:
        """The per-request event (sampled at 10 % unless it is a 5xx)."""
        self.latencies.record(context.route_label, latency_ms)
        tenant_id = context.tenant_id
        self._request_event(context, "http_request", status, latency_ms, tenant_id=tenant_id)

    def business(
        self,
        context: RequestContext,
        event: str,
        *,
        status: int = 200,
        finance_metrics: Mapping[str, Any] | None = None,
        revenue_event_id: str | None = None,
        tenant_id: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        """A business event caused by the current request (``status`` = the one it will get;
        ``data`` = the event's own figures, §6)."""
        elapsed_ms = (time.perf_counter() - context.started_at) * 1000
        self._request_event(
            context,
            event,
            status,
            elapsed_ms,
            tenant_id=tenant_id if tenant_id is not None else context.tenant_id,
            finance_metrics=None if finance_metrics is None else dict(finance_metrics),
            revenue_event_id=revenue_event_id,
            data=None if data is None else dict(data),
        )

    def background(
        self,
        event: str,
        *,
        route: str,
        trace_id: str,
        tags: Tags,
        tenant_id: str | None = None,
        idempotency_key: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        """An event from work outside a request (A3's cycles): no status, no latency;
        ``data`` = the event's own figures (§6)."""
        self._emit(
            dict(
                event=event,
                timestamp=self.clock.now(),
                app_id=self.app_id,
                route=route,
                trace_id=trace_id,
                idempotency_key=idempotency_key,
                tenant_id=tenant_id,
                tags=tags.as_dict(),
                data=None if data is None else dict(data),
            )
        )

    def _request_event(
        self, context: RequestContext, event: str, status: int, latency_ms: float, **fields: Any
    ) -> None:
        """An event of the current request: the request's fields (§6) and ``fields``."""
        self._emit(
            dict(
                event=event,
                timestamp=self.clock.now(),
                app_id=self.app_id,
                route=context.route_label,
                status=status,
                latency_ms=round_ms(latency_ms),
                p95_ms=self._p95(context.route_label),
                trace_id=context.trace_id,
                idempotency_key=context.idempotency_key,
                tags=context.tags.as_dict(),
                **fields,
            )
        )

    def _emit(self, fields: dict[str, Any]) -> None:
        try:
            self.sink.emit(make_event(**fields))
        except (EventError, TypeError):
            logger.exception("dropped an invalid %s event", fields.get("event"))

    def _p95(self, route: str) -> float | None:
        value = self.latencies.p95(route)
        return None if value is None else round_ms(value)
