"""The telemetry event schema of contract §6, as data plus two functions.

Every event carries every field (``null`` when it does not apply, never absent) so that A8,
the harness and any other implementation can read events without guessing. ``make_event``
is the producer's side (apps), ``validate_event`` the consumer's (A8's ingest): it reports
*every* problem at once, because a producer fixing one problem per round trip is slow.

``event_id`` names one emission (the emitter gives each event a new one, and a re-sent
batch carries the same ids, so A8 stores it once); ``data`` holds the event's own figures
(``DATA_FIGURES`` lists those a name must carry), or null.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final, TypeGuard

from reftarget.money import FINANCE_METRICS_FIELDS
from reftarget.telemetry.timestamps import format_timestamp, parse_timestamp

Event = dict[str, Any]

EVENT_FIELDS: Final[tuple[str, ...]] = (
    "event",
    "timestamp",
    "app_id",
    "route",
    "status",
    "latency_ms",
    "p95_ms",
    "trace_id",
    "idempotency_key",
    "tenant_id",
    "finance_metrics",
    "revenue_event_id",
    "sample_rate",
    "tags",
    "event_id",
    "data",
)

BUSINESS_EVENTS: Final = frozenset(
    {
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
    }
)
ORCHESTRATION_EVENTS: Final = frozenset({"run_progress", "orchestration_cycle_complete"})
REQUIRED_EVENTS: Final = BUSINESS_EVENTS | ORCHESTRATION_EVENTS
FINANCE_EVENTS: Final = frozenset({"checkout_completed", "revenue_settled", "credit_decrement"})
HIGH_VOLUME_EVENTS: Final = frozenset({"http_request", "cta_impression"})

EXTRA_EVENTS: Final[Mapping[str, str]] = MappingProxyType(
    {
        # §7 names "its checkout_completed (or provider billing event)" but gives the B2B
        # billing line no name; revenue lineage needs one to join a B2B settlement to.
        "provider_billed": "A6 billed a provider (3 % fee, 4x markup): B2B source of a settlement",
        # §8: "a circuit breaker (closed -> open -> half-open -> closed; each transition is
        # an event)". The schema has no free-form field, so the new state is in the name;
        # app_id is the caller, route the guarded dependency route.
        "circuit_opened": "a circuit breaker went to open (route = the guarded dependency route)",
        "circuit_half_opened": "a circuit breaker went to half-open (trial call allowed)",
        "circuit_closed": "a circuit breaker went (back) to closed",
        # §8 "auto-heal of a failed A3 cycle" and the architecture's "manual interventions":
        # without these a check can only see that run_progress stopped, not why.
        "cycle_failed": "an A3 cycle failed (auto-heal will be attempted)",
        "cycle_auto_healed": "A3 healed a failed cycle without a human",
        "manual_intervention": "an operator intervened in an A3 run",
        # §1 lists it among A3's events (not in §6's required list): the B2C funnel's
        # attribution step (data: conversion_id, page_id, arm).
        "conversion_attributed": "A3 attributed a conversion to the CTA arm and page",
        # §13 (error correction and autonomy): each retry of a service-to-service call, and
        # an A3 run that made no progress for its stall limit.
        "retry_attempted": "a failed dependency call is retried (data: attempt, delay_ms, …)",
        "run_stalled": "an A3 run made no progress for its stall limit",
    }
)

ALLOWED_EVENTS: Final = REQUIRED_EVENTS | {"http_request"} | frozenset(EXTRA_EVENTS)

# Events that carry money: the emitter never drops them (no sampling, fault or overflow
# drop), spools them and retries until A8 takes them; A8 requires finance_metrics on them.
MONEY_EVENTS: Final = FINANCE_EVENTS | {"provider_billed"}

TAG_FIELDS: Final[tuple[str, ...]] = ("test_run", "source", "env")

# Fields that must never be null: A8 cannot place, dedupe, weigh or classify without them.
NON_NULL_FIELDS: Final = frozenset(
    {"event", "timestamp", "app_id", "trace_id", "sample_rate", "tags", "event_id"}
)
# http_request events feed the SLO: without these they would be silently useless.
HTTP_REQUEST_FIELDS: Final[tuple[str, ...]] = ("route", "status", "latency_ms")

# The figures an event's ``data`` must hold (§6, §8); other events' data is free-form.
DATA_FIGURES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {"bandit_config": ("arm_weights", "exploration_rate")}
)

MAX_TEXT: Final = 255
MAX_CENTS: Final = 2**53  # exact in every JSON reader (IEEE double)
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
_APP_ID = re.compile(r"^A[1-8]$")


class EventError(ValueError):
    """``make_event`` got values that break the schema; ``problems`` lists them all."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def new_event_id() -> str:
    """A fresh ``event_id``: a random UUID, unique per emitted event."""
    return str(uuid.uuid4())


def make_tags(*, env: str, test_run: bool = False, source: str | None = None) -> dict[str, Any]:
    """The tags object of §5/§6 (synthetic traffic: ``test_run=True, source="qa"``)."""
    return {"test_run": test_run, "source": source, "env": env}


def make_event(**fields: Any) -> Event:
    """An event with every schema field (``None`` unless given), values type-checked.

    Only ``event`` is required here: the emitter fills ``timestamp``, ``app_id``,
    ``trace_id``, ``tags`` and ``sample_rate`` from its own settings. A ``datetime``
    timestamp becomes RFC 3339 UTC with ``Z``. Unknown field names raise ``TypeError``
    (a typo must not silently become a missing field); bad values raise ``EventError``.
    """
    unknown = sorted(set(fields) - set(EVENT_FIELDS))
    if unknown:
        raise TypeError(f"unknown event field(s): {', '.join(unknown)}")
    event: Event = {name: fields.get(name) for name in EVENT_FIELDS}
    if isinstance(event["timestamp"], datetime):
        event["timestamp"] = format_timestamp(event["timestamp"])
    problems = [] if event["event"] is not None else ["event: required"]
    for name, value in event.items():
        if value is not None:
            problems.extend(f"{name}: {p}" for p in _CHECKS[name](value))
    if problems:
        raise EventError(problems)
    return event


def validate_event(obj: object) -> list[str]:
    """Every way ``obj`` breaks the §6 schema (empty list: valid). Never raises."""
    if not isinstance(obj, dict):
        return [f"an event must be a JSON object, not {type(obj).__name__}"]
    problems: list[str] = []
    for name in EVENT_FIELDS:
        if name not in obj:
            problems.append(f"{name}: missing (every field must be present; use null)")
        elif obj[name] is None:
            if name in NON_NULL_FIELDS:
                problems.append(f"{name}: must not be null")
        else:
            problems.extend(f"{name}: {p}" for p in _CHECKS[name](obj[name]))
    unknown = sorted(map(str, set(obj) - set(EVENT_FIELDS)))
    problems.extend(f"{_short(k)}: unknown field" for k in unknown)
    problems.extend(_cross_field_problems(obj))
    try:
        json.dumps(obj, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:  # UnicodeEncodeError: ValueError
        problems.append(f"event is not valid JSON text: {exc}")
    return problems


def _cross_field_problems(obj: Mapping[str, Any]) -> list[str]:
    name = obj.get("event")
    problems: list[str] = []
    if not isinstance(name, str):
        return problems
    if name == "http_request":
        missing = [f for f in HTTP_REQUEST_FIELDS if f in obj and obj[f] is None]
        problems.extend(f"{f}: required for http_request" for f in missing)
    if name in MONEY_EVENTS and "finance_metrics" in obj and obj["finance_metrics"] is None:
        problems.append(f"finance_metrics: required for {name}")
    if name == "revenue_settled" and "revenue_event_id" in obj and obj["revenue_event_id"] is None:
        problems.append("revenue_event_id: required for revenue_settled (§7)")
    figures = DATA_FIGURES.get(name, ())
    if figures and "data" in obj:
        data = obj["data"]
        held = data if isinstance(data, dict) else {}
        problems.extend(f"data: {f}: required for {name}" for f in figures if f not in held)
    return problems


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[int | float]:
    """A JSON number (Decimal is not one: it would reach A8 as a string)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _text(value: object, *, max_len: int = MAX_TEXT) -> list[str]:
    if not isinstance(value, str):
        return [f"expected a string, got {type(value).__name__}"]
    if not 1 <= len(value) <= max_len:
        return [f"must be 1-{max_len} characters"]
    return []


def _check_event(value: object) -> list[str]:
    if not isinstance(value, str):
        return [f"expected a string, got {type(value).__name__}"]
    return [] if value in ALLOWED_EVENTS else [f"unknown event name {_short(value)}"]


def _check_timestamp(value: object) -> list[str]:
    if not isinstance(value, str):
        return [f"expected an RFC 3339 string, got {type(value).__name__}"]
    try:
        parse_timestamp(value, utc_only=True)
    except ValueError as exc:
        return [str(exc)]
    return []


def _check_app_id(value: object) -> list[str]:
    if isinstance(value, str) and _APP_ID.match(value):
        return []
    return [f"must be one of A1..A8, got {_short(value)}"]


def _check_route(value: object) -> list[str]:
    problems = _text(value, max_len=2048)
    if not problems and not str(value).startswith("/"):
        problems.append("must be a route template starting with '/'")
    return problems


def _check_status(value: object) -> list[str]:
    if _is_int(value) and 100 <= value <= 599:
        return []
    return [f"must be an HTTP status code (integer 100-599), got {_short(value)}"]


def _check_millis(value: object) -> list[str]:
    if _is_number(value) and value >= 0:
        return []
    return [f"must be a finite number of milliseconds >= 0, got {_short(value)}"]


def _check_trace_id(value: object) -> list[str]:
    if not isinstance(value, str) or not _TRACE_ID.match(value):
        return [f"must be 32 lowercase hex digits, got {_short(value)}"]
    return ["must not be all zeros"] if value == "0" * 32 else []


def _check_sample_rate(value: object) -> list[str]:
    if _is_number(value) and 0 < value <= 1:
        return []
    return [f"must be a probability in (0, 1], got {_short(value)}"]


def _check_rate_like(value: object) -> list[str]:
    if _is_number(value):
        return []
    if isinstance(value, Decimal) and value.is_finite():
        return []  # a Python producer's exact rate; the emitter sends it as a string
    if isinstance(value, str):
        try:
            if Decimal(value).is_finite():
                return []
        except ArithmeticError:
            pass
    return [f"must be a number or a decimal string, got {_short(value)}"]


def _check_cents(value: object) -> list[str]:
    if _is_int(value) and abs(value) <= MAX_CENTS:
        return []
    return [f"must be integer cents, got {_short(value)}"]


_FINANCE_CHECKS: Final[Mapping[str, Callable[[object], list[str]]]] = {
    "currency": _text,
    "gross_cents": _check_cents,
    "fee_rate": _check_rate_like,
    "fee_cents": _check_cents,
    "cost_cents": _check_cents,
    "markup": _check_rate_like,
    "billed_cents": _check_cents,
    "net_cents": _check_cents,
    "stripe_object_id": _text,
}


def _check_finance_metrics(value: object) -> list[str]:
    if not isinstance(value, dict):
        return [f"expected an object (§7) or null, got {type(value).__name__}"]
    problems = [f"{k}: missing (use null)" for k in FINANCE_METRICS_FIELDS if k not in value]
    problems.extend(f"{_short(k)}: unknown key" for k in value if k not in _FINANCE_CHECKS)
    for key, check in _FINANCE_CHECKS.items():
        if value.get(key) is not None:
            problems.extend(f"{key}: {p}" for p in check(value[key]))
    return problems


def _check_data(value: object) -> list[str]:
    """Any JSON object: the figures differ per event (``DATA_FIGURES`` names the required)."""
    if not isinstance(value, dict):
        return [f"expected an object or null, got {type(value).__name__}"]
    return [f"{_short(k)}: keys must be strings" for k in value if not isinstance(k, str)]


def _check_tags(value: object) -> list[str]:
    if not isinstance(value, dict):
        return [f'expected {{"test_run", "source", "env"}}, got {type(value).__name__}']
    problems = [f"{k}: missing" for k in TAG_FIELDS if k not in value]
    problems.extend(f"{_short(k)}: unknown key" for k in value if k not in TAG_FIELDS)
    if "test_run" in value and not isinstance(value["test_run"], bool):
        problems.append("test_run: must be true or false")
    if value.get("source") is not None:
        problems.extend(f"source: {p}" for p in _text(value["source"]))
    if "env" in value:
        problems.extend(f"env: {p}" for p in _text(value["env"]))
    return problems


_CHECKS: Final[Mapping[str, Callable[[object], list[str]]]] = {
    "event": _check_event,
    "timestamp": _check_timestamp,
    "app_id": _check_app_id,
    "route": _check_route,
    "status": _check_status,
    "latency_ms": _check_millis,
    "p95_ms": _check_millis,
    "trace_id": _check_trace_id,
    "idempotency_key": _text,
    "tenant_id": _text,
    "finance_metrics": _check_finance_metrics,
    "revenue_event_id": _text,
    "sample_rate": _check_sample_rate,
    "tags": _check_tags,
    "event_id": _text,
    "data": _check_data,
}
