"""Contract §6 as checks: the events A8 holds, how they were sampled, and A8's dedupe.

Three rules, each judged exhaustively (:func:`secondconf.rules.rule_verdict`):

* **TEL-01**: every required event name appears in A8, and every event A8 stored in the
  window of the session's traffic has every schema field, with the contract's type (null
  where it does not apply, never absent).
* **TEL-02**: every stored event's ``sample_rate`` is §6's rule for its name and status,
  an event kept at 0.1 has a trace id sampled in at 0.1; and, the positive side, probes
  whose trace ids the harness chose are held by A8 exactly when §6 says they must be.
* **TEL-03**: A8 stores an event once per (event, idempotency key, trace id) within 15
  minutes: a repeat is one event, another trace id is a second one, and after the window
  (crossed with the target's clock control, where it has one) the triple is stored again.

The schema here is the harness's own copy of §6 and §7, not the reference target's: the
harness judges any implementation of the contract, so it shares no code with one.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import httpx

from secondconf.clock import Clock, utc_iso
from secondconf.rules import ContractRule, rule_verdict
from secondconf.systemmap import SystemMap
from secondconf.target_control import ControlError, TargetControl
from secondconf.telemetry_client import A8Client, TelemetryError
from secondconf.traceids import (
    FINANCE_EVENTS,
    FULL_RATE,
    HIGH_VOLUME_RATE,
    TRACE_ID_HEADER,
    is_sampled_in,
    is_valid_trace_id,
    new_idempotency_key,
    new_sampled_in_trace_id,
    sample_rate_for,
    sampling_threshold,
)
from secondconf.verdict import Verdict

TEL01: Final = ContractRule("TEL-01", "required events in A8 with every schema field", "§6")
TEL02: Final = ContractRule("TEL-02", "telemetry sampled by trace id as §6 states", "§6")
TEL03: Final = ContractRule("TEL-03", "A8 dedupe by (event, idempotency key, trace id)", "§6")
SUBJECT: Final = "A8"

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
SCHEMA_FIELDS: Final[tuple[str, ...]] = (
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
)
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
SAMPLE_RATES: Final = (FULL_RATE, HIGH_VOLUME_RATE)
DEDUPE_WINDOW_S: Final = 900.0
PAGE_LIMIT: Final = 10_000  # events per /v1/events answer before the window is split
MAX_SPLITS: Final = 12  # a window is halved at most this often (2^12 pieces)
PROBES_PER_SIDE: Final = 2  # per app: traces sampled in, and as many sampled out
POLL_S: Final = 0.25
MAX_EXAMPLES: Final = 3

_RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|\+00:00)")
_APP_ID = re.compile(r"A[1-8]")
_SPAN: Final = 2**64


# -- TEL-01: the schema --------------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return _is_int(value) or isinstance(value, float)


def _optional(check: Any) -> Any:
    """A field that may be null, else must pass ``check``."""
    return lambda value: None if value is None else check(value)


def _text(value: object) -> str | None:
    return None if isinstance(value, str) else f"not a string ({_kind(value)})"


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
    ok = _is_int(value) and 100 <= value <= 599  # type: ignore[operator]
    return None if ok else f"not an HTTP status ({_short(value)})"


def _millis(value: object) -> str | None:
    ok = _is_number(value) and value >= 0  # type: ignore[operator]
    return None if ok else f"not a number of milliseconds ({_short(value)})"


def _trace_id(value: object) -> str | None:
    ok = isinstance(value, str) and is_valid_trace_id(value)
    return None if ok else f"not 32 lowercase hex ({_short(value)})"


def _sample_rate(value: object) -> str | None:
    ok = _is_number(value) and value in SAMPLE_RATES
    return None if ok else f"not 1.0 or 0.1 ({_short(value)})"


def _cents(value: object) -> str | None:
    return None if _is_int(value) else f"not integer cents ({_short(value)})"


def _decimal(value: object) -> str | None:
    """A rate (fee rate, markup): a JSON number or a decimal string (exact rates)."""
    if _is_number(value):
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
    problems = [f"tags.{k}: absent" for k in ("test_run", "source", "env") if k not in value]
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


@dataclass
class Tally:
    """Problems grouped by (event name, problem), with a count and a few examples each:
    one broken emitter must read as one violation, not as thousands."""

    groups: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)

    def seen(self, name: str) -> None:
        self.totals[name] = self.totals.get(name, 0) + 1

    def add(self, name: str, problem: str, event: Mapping[str, Any]) -> None:
        key = (name, problem)
        self.counts[key] = self.counts.get(key, 0) + 1
        examples = self.groups.setdefault(key, [])
        example = describe(event)
        if len(examples) < MAX_EXAMPLES and example not in examples:
            examples.append(example)

    def violations(self) -> list[str]:
        return [
            f"{problem} in {self.counts[(name, problem)]} of {self.totals.get(name, 0)} "
            f"{name} event(s) (e.g. {'; '.join(examples)})"
            for (name, problem), examples in sorted(self.groups.items())
        ]


def describe(event: Mapping[str, Any]) -> str:
    """An event in a few words: app, route, status and the start of its trace id."""
    trace = event.get("trace_id")
    parts = [
        str(event.get("app_id", "?")),
        str(event.get("route") or "-"),
        f"status {event.get('status')}",
        f"trace {trace[:12]}…" if isinstance(trace, str) else "no trace",
    ]
    return " ".join(parts)


def _name(event: Mapping[str, Any]) -> str:
    name = event.get("event")
    return name if isinstance(name, str) else "<no event name>"


def judge_schema(
    events: Sequence[Mapping[str, Any]],
    seen_before: frozenset[str] = frozenset(),
    *,
    window: tuple[str, str] | None = None,
    untested: Sequence[str] = (),
    requests: Sequence[Mapping[str, Any]] = (),
) -> Verdict:
    """TEL-01 over the events A8 holds in the window (``seen_before``: required names A8
    holds only from before it, which still count as appearing, e.g. a once-per-tenant
    registration on a long-lived target)."""
    tally = Tally()
    for event in events:
        name = _name(event)
        tally.seen(name)
        for problem in schema_problems(event):
            tally.add(name, problem, event)
    in_window = {_name(e) for e in events}
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
            "requests": list(requests),
        },
    )


# -- TEL-02: sampling ----------------------------------------------------------------


def sampling_problem(event: Mapping[str, Any]) -> str | None:
    """How one stored event breaks §6's sampling rule (None: it keeps it, or TEL-01 has
    its malformed fields to report)."""
    name, status, rate, trace = (
        event.get("event"),
        event.get("status"),
        event.get("sample_rate"),
        event.get("trace_id"),
    )
    if not isinstance(name, str) or not isinstance(trace, str) or not is_valid_trace_id(trace):
        return None
    if not _is_number(rate) or not (status is None or _is_int(status)):
        return None
    expected = sample_rate_for(name, status)
    if rate != expected:
        return f"sample_rate {rate} where §6 says {expected}"
    if rate == HIGH_VOLUME_RATE and not is_sampled_in(trace, HIGH_VOLUME_RATE):
        return "kept at 0.1 although its trace id is sampled out at 0.1"
    return None


@dataclass(frozen=True)
class SamplingProbe:
    """A request whose trace id the harness chose, and what A8 held for it."""

    app_id: str
    path: str
    trace_id: str
    status: int | None  # None: the request got no answer
    held: int  # http_request events of this trace and app in A8

    @property
    def must_be_held(self) -> bool:
        if self.status is None:
            return False
        return is_sampled_in(self.trace_id, sample_rate_for(HTTP_REQUEST, self.status))


def probe_problem(probe: SamplingProbe) -> str | None:
    if probe.status is None:
        return None
    if probe.must_be_held and probe.held == 0:
        return "sampled in, yet A8 holds no http_request of its trace"
    if not probe.must_be_held and probe.held > 0:
        return f"sampled out, yet A8 holds {probe.held} http_request event(s) of its trace"
    return None


def judge_sampling(
    events: Sequence[Mapping[str, Any]],
    probes: Sequence[SamplingProbe],
    *,
    window: tuple[str, str] | None = None,
    untested: Sequence[str] = (),
    requests: Sequence[Mapping[str, Any]] = (),
) -> Verdict:
    """TEL-02: the stored events' rates, and the probes A8 must and must not hold."""
    tally = Tally()
    for event in events:
        name = _name(event)
        tally.seen(name)
        if problem := sampling_problem(event):
            tally.add(name, problem, event)
    judged = len(events)
    probe_violations = []
    for probe in probes:
        if problem := probe_problem(probe):
            probe_violations.append(
                f"{probe.app_id} GET {probe.path} trace {probe.trace_id[:12]}…: {problem}"
            )
    answered = [p for p in probes if p.status is not None]
    unanswered = [
        f"{p.app_id} GET {p.path} trace {p.trace_id[:12]}…: no answer"
        for p in probes
        if p.status is None
    ]
    return rule_verdict(
        TEL02,
        SUBJECT,
        cases=judged + len(answered),
        violations=probe_violations + tally.violations(),
        untested=[*untested, *unanswered],
        details={
            "window": list(window) if window else None,
            "events_examined": judged,
            "probes": [
                {
                    "app": p.app_id,
                    "trace_id": p.trace_id,
                    "status": p.status,
                    "must_be_held": p.must_be_held,
                    "held": p.held,
                }
                for p in probes
            ],
            "requests": list(requests),
        },
    )


def new_sampled_out_trace_id(rate: float) -> str:
    """A fresh trace id that §6's sampler drops at ``rate`` (low 64 bits at or above the
    threshold): A8 must not hold its high-volume successes."""
    threshold = sampling_threshold(rate)
    if threshold >= _SPAN:
        raise ValueError(f"every trace id is sampled in at rate {rate}")
    return f"{secrets.randbits(64):016x}{threshold + secrets.randbelow(_SPAN - threshold):016x}"


# -- TEL-03: dedupe ------------------------------------------------------------------


@dataclass(frozen=True)
class DedupeCase:
    """One dedupe expectation: how many copies A8 should hold, and how many it does."""

    what: str
    expected: int
    stored: int | None  # None: the copies could not be sent

    @property
    def problem(self) -> str | None:
        if self.stored is None or self.stored == self.expected:
            return None
        return f"{self.what}: A8 stored {self.stored}, §6 says {self.expected}"


def judge_dedupe(
    cases: Sequence[DedupeCase],
    *,
    untested: Sequence[str] = (),
    requests: Sequence[Mapping[str, Any]] = (),
) -> Verdict:
    """TEL-03 from its cases; a case whose copies could not be sent is untested."""
    sent = [c for c in cases if c.stored is not None]
    return rule_verdict(
        TEL03,
        SUBJECT,
        cases=len(sent),
        violations=[p for c in sent if (p := c.problem)],
        untested=[*untested, *(f"{c.what}: not sent" for c in cases if c.stored is None)],
        details={
            "cases": [{"what": c.what, "expected": c.expected, "stored": c.stored} for c in cases],
            "requests": list(requests),
        },
    )


# -- Talking to A8 and the target ----------------------------------------------------


def _request(
    app: str, method: str, path: str, sent: str, status: int | None, result: str = "ok"
) -> dict[str, Any]:
    return {
        "app": app,
        "method": method,
        "path": path,
        "sent": sent,
        "status": status,
        "result": result,
    }


@dataclass
class EventWindow:
    """The events A8 holds with timestamps in [since, until], and how they were read."""

    since: datetime
    until: datetime
    events: list[dict[str, Any]] = field(default_factory=list)
    untested: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def bounds(self) -> tuple[str, str]:
        return utc_iso(self.since), utc_iso(self.until)


async def read_window(a8: A8Client, since: datetime, until: datetime) -> EventWindow:
    """Every event A8 holds in the window: an answer A8 cut at its limit is read again as
    two halves of the window, recursively (A8 filters on the event's own timestamp, so
    the halves partition the window exactly)."""
    window = EventWindow(since, until)
    await _read(a8, since, until, window, MAX_SPLITS)
    return window


async def _read(
    a8: A8Client, since: datetime, until: datetime, window: EventWindow, splits: int
) -> None:
    page = await a8.raw_events(since=since, until=until, limit=PAGE_LIMIT)
    span = f"{utc_iso(since)} .. {utc_iso(until)}"
    window.requests.append(
        _request("A8", "GET", "/v1/events", f"since/until {span}", 200, f"{len(page.items)} events")
    )
    if not page.truncated:
        window.events.extend(page.items)
        return
    middle = since + (until - since) / 2
    if splits == 0 or middle <= since:
        window.events.extend(page.items)
        window.untested.append(f"events of {span}: A8 holds more than {PAGE_LIMIT}, not all read")
        return
    await _read(a8, since, middle, window, splits - 1)
    await _read(a8, middle + timedelta(microseconds=1), until, window, splits - 1)


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
        absent = [n for n in REQUIRED_EVENTS if n not in {_name(e) for e in window.events}]
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


async def check_sampling(
    client: httpx.AsyncClient,
    system_map: SystemMap,
    a8: A8Client,
    since: datetime,
    clock: Clock,
    *,
    deadline_s: float,
) -> Verdict:
    """TEL-02: probes with chosen trace ids to every app's health route (sampled out
    first, then sampled in: an app's telemetry reaches A8 in order, so once the
    sampled-in ones are held, a sampled-out one that A8 was going to hold is there too),
    then the rates of every event A8 holds from ``since``."""
    requests: list[dict[str, Any]] = []
    sent: list[tuple[str, str, str, int | None]] = []
    for app_id, app in system_map.apps.items():
        path = app.health_url[len(app.base_url) :] or "/"
        traces = [new_sampled_out_trace_id(HIGH_VOLUME_RATE) for _ in range(PROBES_PER_SIDE)]
        traces += [new_sampled_in_trace_id(HIGH_VOLUME_RATE) for _ in range(PROBES_PER_SIDE)]
        for trace in traces:
            status = await _probe(client, app.health_url, trace)
            sent.append((app_id, path, trace, status))
            kind = "in" if is_sampled_in(trace, HIGH_VOLUME_RATE) else "out"
            requests.append(_request(app_id, "GET", path, f"trace sampled {kind} at 0.1", status))
    try:
        held = await _wait_for_probes(a8, sent, clock, deadline_s)
        window = await read_window(a8, since, clock.now())
    except TelemetryError as error:
        return judge_sampling([], [], untested=[str(error)], requests=requests)
    probes = [SamplingProbe(a, p, t, s, held.get((a, t), 0)) for a, p, t, s in sent]
    for record, probe in zip(requests, probes, strict=True):
        record["result"] = probe_problem(probe) or "ok"
    return judge_sampling(
        window.events,
        probes,
        window=window.bounds,
        untested=window.untested,
        requests=requests + window.requests,
    )


async def _probe(client: httpx.AsyncClient, url: str, trace: str) -> int | None:
    try:
        response = await client.get(url, headers={TRACE_ID_HEADER: trace})
    except httpx.HTTPError:  # an unanswered probe is reported as untested
        return None
    return int(response.status_code)


async def _held(a8: A8Client, app_id: str, trace: str) -> int:
    page = await a8.raw_events(trace_id=trace, event=HTTP_REQUEST, app_id=app_id)
    return len(page.items)


async def _wait_for_probes(
    a8: A8Client,
    sent: Sequence[tuple[str, str, str, int | None]],
    clock: Clock,
    deadline_s: float,
) -> dict[tuple[str, str], int]:
    """Poll A8 until every probe that must be held is (or the deadline), then count all."""
    expected = [(a, t) for a, _, t, s in sent if SamplingProbe(a, "", t, s, 0).must_be_held]
    deadline = clock.monotonic() + deadline_s
    waiting = list(expected)
    while waiting and clock.monotonic() < deadline:
        waiting = [(a, t) for a, t in waiting if await _held(a8, a, t) == 0]
        if waiting:
            await asyncio.sleep(POLL_S)
    return {(a, t): await _held(a8, a, t) for a, _, t, s in sent if s is not None}


def qa_event(trace_id: str, key: str, env: str, clock: Clock) -> dict[str, Any]:
    """A synthetic, clearly labelled test event (tags test_run/qa, route ``/_qa/...``): an
    ``http_request`` of A8 itself, kept at 0.1 with a trace id sampled in at 0.1, so it is
    valid under §6 without standing for any business event TEL-01 looks for."""
    return {
        "event": HTTP_REQUEST,
        "timestamp": utc_iso(clock.now().astimezone(UTC)),
        "app_id": SUBJECT,
        "route": "/_qa/telemetry-dedupe",
        "status": 200,
        "latency_ms": 0.0,
        "p95_ms": None,
        "trace_id": trace_id,
        "idempotency_key": key,
        "tenant_id": None,
        "finance_metrics": None,
        "revenue_event_id": None,
        "sample_rate": HIGH_VOLUME_RATE,
        "tags": {"test_run": True, "source": "qa", "env": env},
    }


class _Ingest:
    """Sends the dedupe check's events and keeps the record of every request."""

    def __init__(self, a8: A8Client, headers: Mapping[str, str], clock: Clock, deadline_s: float):
        self.a8 = a8
        self.headers = headers
        self.clock = clock
        self.deadline_s = deadline_s
        self.requests: list[dict[str, Any]] = []

    async def send(self, event: Mapping[str, Any], what: str) -> bool:
        headers = {**self.headers, "X-Idempotency-Key": event["idempotency_key"]}
        answer = await self.a8.post_events([event], {**headers, TRACE_ID_HEADER: event["trace_id"]})
        sent = f"{what}: key {event['idempotency_key']}, trace {event['trace_id'][:12]}…"
        ok = answer.status == 200
        self.requests.append(
            _request("A8", "POST", "/v1/events", sent, answer.status, "ok" if ok else "refused")
        )
        return ok

    async def stored(self, trace: str) -> int:
        page = await self.a8.raw_events(trace_id=trace, event=HTTP_REQUEST, app_id=SUBJECT)
        return len(page.items)

    async def marker(self, event: Mapping[str, Any]) -> bool:
        """Send a fresh event and wait until A8 holds it: what was sent before is in by then
        (an ingest that stores in order; the reference stores before it answers)."""
        if not await self.send(event, "marker (fresh key and trace)"):
            return False
        deadline = self.clock.monotonic() + self.deadline_s
        while self.clock.monotonic() < deadline:
            if await self.stored(event["trace_id"]) > 0:
                return True
            await asyncio.sleep(POLL_S)
        return False


async def check_dedupe(
    a8: A8Client,
    env: str,
    clock: Clock,
    *,
    deadline_s: float,
    synthetic: Mapping[str, str],
    control: TargetControl | None = None,
) -> Verdict:
    """TEL-03 with synthetic events posted to A8's ingest (a write: never prod_safe).

    ``control`` (the target's clock control) crosses the 15-minute window by moving A8's
    clock 901 s ahead; without it that case is listed as untested rather than waited for.
    """
    ingest = _Ingest(a8, synthetic, clock, deadline_s)

    def fresh(trace: str | None = None, key: str | None = None) -> dict[str, Any]:
        return qa_event(
            trace or new_sampled_in_trace_id(HIGH_VOLUME_RATE),
            key or new_idempotency_key(),
            env,
            clock,
        )

    first = fresh()
    other_trace = fresh(key=first["idempotency_key"])
    cases: list[DedupeCase] = []
    untested: list[str] = []
    try:
        sent = [
            await ingest.send(first, "first copy"),
            await ingest.send(first, "same event, key and trace again"),
            await ingest.send(other_trace, "same event and key, another trace id"),
        ]
        if all(sent) and await ingest.marker(fresh()):
            cases.append(
                DedupeCase("the same triple sent twice", 1, await ingest.stored(first["trace_id"]))
            )
            cases.append(
                DedupeCase(
                    "the same event and key with another trace id",
                    1,
                    await ingest.stored(other_trace["trace_id"]),
                )
            )
        else:
            cases += [DedupeCase("the same triple sent twice", 1, None)]
            untested.append("A8 refused the test events or did not show the marker in time")
        if control is None:
            untested.append("the triple again after 15 minutes: the target offers no clock control")
        elif all(sent):
            with control.clock_offset(SUBJECT, DEDUPE_WINDOW_S + 1):
                again = await ingest.send(first, "the same triple, A8's clock 901 s later")
                shown = again and await ingest.marker(fresh())
            stored = await ingest.stored(first["trace_id"]) if shown else None
            cases.append(DedupeCase("the same triple after 15 minutes", 2, stored))
    except (TelemetryError, ControlError) as error:
        untested.append(str(error))
    for case in cases:
        if case.problem:
            ingest.requests.append(
                _request("A8", "GET", "/v1/events", f"count of {case.what}", 200, case.problem)
            )
    return judge_dedupe(cases, untested=untested, requests=ingest.requests)


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
