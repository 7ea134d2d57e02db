"""TEL-01 of contract §6: every required event in A8, every stored event with every field.

Every required event name appears in A8, and every event A8 stored in the window of the
session's traffic has every schema field, with the contract's type (null where it does not
apply, never absent).

The field names, their types and the required names are the harness's own copy of §6 and
§7 (:mod:`secondconf.contract.events`); this module turns them into per-field checks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from secondconf.checks.telemetry.window import SUBJECT, Tally, event_name, read_window
from secondconf.contract.catalog import rule_by_id
from secondconf.contract.events import (
    FINANCE_METRICS_FIELDS,
    HTTP_REQUEST,
    REQUIRED_EVENTS,
    SAMPLE_RATES,
    SCHEMA_FIELDS,
    TAG_FIELDS,
    is_int,
    is_number,
    is_object,
)
from secondconf.contract.traceids import FINANCE_EVENTS, is_valid_trace_id
from secondconf.core.clock import Clock
from secondconf.engine.evidence import RequestRecord
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Verdict
from secondconf.target.a8 import A8Client, TelemetryError

TEL01: Final = rule_by_id("TEL-01")

_RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|\+00:00)")
_APP_ID = re.compile(r"A[1-8]")


def _optional(check: Any) -> Any:
    """A field that may be null, else must pass ``check``."""
    return lambda value: None if value is None else check(value)


def _text(value: object) -> str | None:
    return None if isinstance(value, str) else f"not a string ({_kind(value)})"


def _event_id(value: object) -> str | None:
    ok = isinstance(value, str) and value != ""
    return None if ok else f"not a non-empty string ({_short(value)})"


def _object(value: object) -> str | None:
    return None if is_object(value) else f"not an object ({_kind(value)})"


def _timestamp(value: object) -> str | None:
    if not isinstance(value, str) or not _RFC3339_UTC.fullmatch(value):
        return f"not an RFC 3339 UTC timestamp ({_short(value)})"
    try:
        datetime.fromisoformat(_micro(value).replace("Z", "+00:00"))
    except ValueError:
        return f"not a valid date and time ({_short(value)})"
    return None


def _micro(text: str) -> str:
    """Fractions of a second cut to 6 digits (what :mod:`datetime` reads)."""
    return re.sub(r"\.(\d{6})\d+", r".\1", text)


def _app_id(value: object) -> str | None:
    ok = isinstance(value, str) and _APP_ID.fullmatch(value)
    return None if ok else f"not one of A1..A8 ({_short(value)})"


def _route(value: object) -> str | None:
    ok = isinstance(value, str) and value.startswith("/")
    return None if ok else f"not a route template ({_short(value)})"


def _status(value: object) -> str | None:
    ok = is_int(value) and 100 <= value <= 599  # type: ignore[operator]
    return None if ok else f"not an HTTP status ({_short(value)})"


def _millis(value: object) -> str | None:
    ok = is_number(value) and value >= 0  # type: ignore[operator]
    return None if ok else f"not a number of milliseconds ({_short(value)})"


def _trace_id(value: object) -> str | None:
    ok = isinstance(value, str) and is_valid_trace_id(value)
    return None if ok else f"not 32 lowercase hex ({_short(value)})"


def _sample_rate(value: object) -> str | None:
    ok = is_number(value) and value in SAMPLE_RATES
    return None if ok else f"not 1.0 or 0.1 ({_short(value)})"


def _cents(value: object) -> str | None:
    return None if is_int(value) else f"not integer cents ({_short(value)})"


def _decimal(value: object) -> str | None:
    """A rate (fee rate, markup): a JSON number or a decimal string (exact rates)."""
    if is_number(value):
        return None
    if isinstance(value, str):
        try:
            if Decimal(value).is_finite():
                return None
        except InvalidOperation:
            pass
    return f"not a decimal ({_short(value)})"


_FINANCE_CHECKS: Final = {
    "currency": _optional(_text),
    "gross_cents": _optional(_cents),
    "fee_rate": _optional(_decimal),
    "fee_cents": _optional(_cents),
    "cost_cents": _optional(_cents),
    "markup": _optional(_decimal),
    "billed_cents": _optional(_cents),
    "net_cents": _optional(_cents),
    "stripe_object_id": _optional(_text),
}


def _finance_metrics(value: object) -> list[str]:
    if not isinstance(value, dict):
        return [f"finance_metrics: not an object ({_kind(value)})"]
    problems = [f"finance_metrics.{k}: absent" for k in FINANCE_METRICS_FIELDS if k not in value]
    for key, check in _FINANCE_CHECKS.items():
        if key in value and (problem := check(value[key])):
            problems.append(f"finance_metrics.{key}: {problem}")
    return problems


def _tags(value: object) -> list[str]:
    if not isinstance(value, dict):
        return [f"tags: not an object ({_kind(value)})"]
    problems = [f"tags.{k}: absent" for k in TAG_FIELDS if k not in value]
    if "test_run" in value and not isinstance(value["test_run"], bool):
        problems.append(f"tags.test_run: not true or false ({_short(value['test_run'])})")
    if "source" in value and (problem := _optional(_text)(value["source"])):
        problems.append(f"tags.source: {problem}")
    if "env" in value and (problem := _text(value["env"])):
        problems.append(f"tags.env: {problem}")
    return problems


_FIELD_CHECKS: Final = {
    "event": _text,
    "timestamp": _timestamp,
    "app_id": _app_id,
    "route": _optional(_route),
    "status": _optional(_status),
    "latency_ms": _optional(_millis),
    "p95_ms": _optional(_millis),
    "trace_id": _trace_id,
    "idempotency_key": _optional(_text),
    "tenant_id": _optional(_text),
    "revenue_event_id": _optional(_text),
    "sample_rate": _sample_rate,
    "event_id": _event_id,
    "data": _optional(_object),
}


def schema_problems(event: Mapping[str, Any]) -> list[str]:
    """Every way one stored event breaks the §6 schema (empty: it keeps it).

    A field that does not apply must be present as null. Fields beyond the schema (A8's
    ``received_at``) are not judged: §6 asks for every field, not for nothing else.
    """
    problems = [f"{name}: absent" for name in SCHEMA_FIELDS if name not in event]
    for name, check in _FIELD_CHECKS.items():
        if name in event and (problem := check(event[name])):
            problems.append(f"{name}: {problem}")
    if event.get("finance_metrics") is not None:
        problems.extend(_finance_metrics(event["finance_metrics"]))
    if "tags" in event:
        problems.extend(_tags(event["tags"]))
    kind = event.get("event")
    if kind in FINANCE_EVENTS and "finance_metrics" in event and event["finance_metrics"] is None:
        problems.append(f"finance_metrics: null on a finance event ({kind})")
    if kind == "revenue_settled" and event.get("revenue_event_id", "") is None:
        problems.append("revenue_event_id: null on revenue_settled (§7)")
    return problems


def judge_schema(
    events: Sequence[Mapping[str, Any]],
    seen_before: frozenset[str] = frozenset(),
    *,
    window: tuple[str, str] | None = None,
    untested: Sequence[str] = (),
    requests: Sequence[RequestRecord] = (),
) -> Verdict:
    """TEL-01 over the events A8 holds in the window (``seen_before``: required names A8
    holds only from before it, which still count as appearing, e.g. a once-per-tenant
    registration on a long-lived target)."""
    tally = Tally()
    for event in events:
        name = event_name(event)
        tally.seen(name)
        for problem in schema_problems(event):
            tally.add(name, problem, event)
    in_window = {event_name(e) for e in events}
    names = {
        n: "in the window" if n in in_window else "before the window" if n in seen_before else None
        for n in REQUIRED_EVENTS
    }
    missing = [
        f"{n}: no such event in A8 (§6 requires it)" for n, where in names.items() if not where
    ]
    extra = sorted(in_window - set(REQUIRED_EVENTS) - {HTTP_REQUEST})
    return rule_verdict(
        TEL01,
        SUBJECT,
        cases=len(REQUIRED_EVENTS) + len(events),
        violations=missing + tally.violations(),
        untested=untested,
        details={
            "window": list(window) if window else None,
            "events_examined": len(events),
            "per_event": dict(sorted(tally.totals.items())),
            "required_names": {n: where or "absent" for n, where in names.items()},
            "names_beyond_contract": extra,
            "requests": [record.to_dict() for record in requests],
        },
    )


async def seen_before(a8: A8Client, names: Sequence[str], since: datetime) -> frozenset[str]:
    """Which of ``names`` A8 holds from before ``since`` (one small query per name)."""
    found = set()
    for name in names:
        page = await a8.raw_events(event=name, until=since, limit=1)
        if page.items:
            found.add(name)
    return frozenset(found)


async def check_event_schema(a8: A8Client, since: datetime, clock: Clock) -> Verdict:
    """TEL-01 over the events A8 holds from ``since`` (the start of the session's
    traffic) until now."""
    try:
        window = await read_window(a8, since, clock.now())
        absent = [n for n in REQUIRED_EVENTS if n not in {event_name(e) for e in window.events}]
        before = await seen_before(a8, absent, since)
    except TelemetryError as error:
        return judge_schema([], untested=[str(error)])
    return judge_schema(
        window.events,
        before,
        window=window.bounds,
        untested=window.untested,
        requests=window.requests,
    )


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
