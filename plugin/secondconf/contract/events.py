"""The telemetry event contract (§6, §7), as the harness reads it.

Every event A8 stores has every field of ``FIELD_TYPES`` (null where it does not apply,
never absent): the fourteen of §6's table plus ``event_id`` (one per emitted event) and
``data`` (the event's own figures, or null). The telemetry checks judge stored events
against these names and types; the reference target has its own copy, because the harness
must judge any implementation of the contract and so shares no code with one.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from secondconf.contract.traceids import FULL_RATE, HIGH_VOLUME_RATE

REQUIRED_EVENTS: Final[tuple[str, ...]] = (
    "identity_ok",
    "page_build_requested",
    "page_published",
    "bandit_config",
    "cta_emitted",
    "cta_impression",
    "checkout_completed",
    "provider_registered",
    "provider_listing_published",
    "revenue_settled",
    "credit_decrement",
    "activation_first_use",
    "run_progress",
    "orchestration_cycle_complete",
)
HTTP_REQUEST: Final = "http_request"

FIELD_TYPES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "event": "one of the required event names, or http_request",
        "timestamp": "RFC 3339, UTC",
        "app_id": "A1 … A8",
        "route": "route template or null",
        "status": "HTTP status or null",
        "latency_ms": "milliseconds or null",
        "p95_ms": "milliseconds or null",
        "trace_id": "32 lowercase hex",
        "idempotency_key": "string or null",
        "tenant_id": "string or null",
        "finance_metrics": "object (§7) or null",
        "revenue_event_id": "string or null",
        "sample_rate": "1.0 or 0.1",
        "tags": '{"test_run": bool, "source": str|null, "env": str}',
        "event_id": "string, unique per emitted event",
        "data": "object (the event's own figures) or null",
    }
)
SCHEMA_FIELDS: Final[tuple[str, ...]] = tuple(FIELD_TYPES)

FINANCE_METRICS_FIELDS: Final[tuple[str, ...]] = (
    "currency",
    "gross_cents",
    "fee_rate",
    "fee_cents",
    "cost_cents",
    "markup",
    "billed_cents",
    "net_cents",
    "stripe_object_id",
)
TAG_FIELDS: Final[tuple[str, ...]] = ("test_run", "source", "env")
SAMPLE_RATES: Final = (FULL_RATE, HIGH_VOLUME_RATE)


def is_int(value: object) -> bool:
    """A JSON integer (``True`` is not one, although Python says it is an int)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """A JSON number: an integer or a float."""
    return is_int(value) or isinstance(value, float)


def is_object(value: object) -> bool:
    """A JSON object."""
    return isinstance(value, dict)
