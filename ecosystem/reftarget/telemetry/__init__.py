"""Telemetry for the reference target: the §6 event schema, trace-id sampling, the emitter
every app uses to reach A8, and A8's own store and routes.

Modules: ``schema`` (fields, event names, ``make_event``/``validate_event``), ``sampling``
(``sample_rate_for``/``is_sampled_in``, the drop-fault selector), ``emitter``
(``TelemetryEmitter``), ``a8store`` (``TelemetryStore``), ``a8routes`` (``a8_routes``),
``dashboards`` and ``slo`` (pure query arithmetic), ``timestamps`` (the RFC 3339 form).
The clock is a ``reftarget.clock.Clock``.
"""

from reftarget.telemetry.a8routes import a8_routes
from reftarget.telemetry.a8store import IngestResult, ItemResult, TelemetryStore, UnknownDashboard
from reftarget.telemetry.emitter import TelemetryEmitter, new_trace_id
from reftarget.telemetry.sampling import is_dropped_by_fault, is_sampled_in, sample_rate_for
from reftarget.telemetry.schema import (
    ALLOWED_EVENTS,
    EVENT_FIELDS,
    EXTRA_EVENTS,
    FINANCE_EVENTS,
    HIGH_VOLUME_EVENTS,
    MONEY_EVENTS,
    REQUIRED_EVENTS,
    Event,
    EventError,
    make_event,
    make_tags,
    new_event_id,
    validate_event,
)
from reftarget.telemetry.timestamps import format_timestamp, parse_timestamp

__all__ = [
    "ALLOWED_EVENTS",
    "EVENT_FIELDS",
    "EXTRA_EVENTS",
    "FINANCE_EVENTS",
    "HIGH_VOLUME_EVENTS",
    "MONEY_EVENTS",
    "REQUIRED_EVENTS",
    "Event",
    "EventError",
    "IngestResult",
    "ItemResult",
    "TelemetryEmitter",
    "TelemetryStore",
    "UnknownDashboard",
    "a8_routes",
    "format_timestamp",
    "is_dropped_by_fault",
    "is_sampled_in",
    "make_event",
    "make_tags",
    "new_event_id",
    "new_trace_id",
    "parse_timestamp",
    "sample_rate_for",
    "validate_event",
]
