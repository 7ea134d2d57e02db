"""TEL-02 of contract §6: telemetry sampled by trace id, in what A8 stores and drops.

Every stored event's ``sample_rate`` is §6's rule for its name and status, and an event
kept at 0.1 has a trace id sampled in at 0.1. The positive side: probes whose trace ids
the harness chose, sampled out (:func:`new_sampled_out_trace_id`) and sampled in, are
held by A8 exactly when §6 says they must be, so a telemetry pipeline that drops
everything cannot pass by storing nothing wrong.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

import httpx

from secondconf.checks.telemetry.window import (
    POLL_S,
    SUBJECT,
    Tally,
    event_name,
    read_window,
)
from secondconf.contract.catalog import rule_by_id
from secondconf.contract.events import HTTP_REQUEST, is_int, is_number
from secondconf.contract.traceids import (
    HIGH_VOLUME_RATE,
    TRACE_ID_HEADER,
    is_sampled_in,
    is_valid_trace_id,
    new_sampled_in_trace_id,
    sample_rate_for,
    sampling_threshold,
)
from secondconf.core.clock import Clock
from secondconf.engine.evidence import RequestRecord
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Verdict
from secondconf.target.a8 import A8Client, TelemetryError
from secondconf.target.map import SystemMap

TEL02: Final = rule_by_id("TEL-02")
PROBES_PER_SIDE: Final = 2  # per app: traces sampled in, and as many sampled out
_SPAN: Final = 2**64


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
    if not is_number(rate) or not (status is None or is_int(status)):
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
    requests: Sequence[RequestRecord] = (),
) -> Verdict:
    """TEL-02: the stored events' rates, and the probes A8 must and must not hold."""
    tally = Tally()
    for event in events:
        name = event_name(event)
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
            "requests": [record.to_dict() for record in requests],
        },
    )


def new_sampled_out_trace_id(rate: float) -> str:
    """A fresh trace id that §6's sampler drops at ``rate`` (low 64 bits at or above the
    threshold): A8 must not hold its high-volume successes."""
    threshold = sampling_threshold(rate)
    if threshold >= _SPAN:
        raise ValueError(f"every trace id is sampled in at rate {rate}")
    return f"{secrets.randbits(64):016x}{threshold + secrets.randbelow(_SPAN - threshold):016x}"


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
    requests: list[RequestRecord] = []
    sent: list[tuple[str, str, str, int | None]] = []
    for app_id, app in system_map.apps.items():
        path = app.health_url[len(app.base_url) :] or "/"
        traces = [new_sampled_out_trace_id(HIGH_VOLUME_RATE) for _ in range(PROBES_PER_SIDE)]
        traces += [new_sampled_in_trace_id(HIGH_VOLUME_RATE) for _ in range(PROBES_PER_SIDE)]
        for trace in traces:
            status = await _probe(client, app.health_url, trace)
            sent.append((app_id, path, trace, status))
            kind = "in" if is_sampled_in(trace, HIGH_VOLUME_RATE) else "out"
            requests.append(
                RequestRecord(
                    app_id, "GET", path, f"trace sampled {kind} at 0.1", status, trace_id=trace
                )
            )
    try:
        held = await _wait_for_probes(a8, sent, clock, deadline_s)
        window = await read_window(a8, since, clock.now())
    except TelemetryError as error:
        return judge_sampling([], [], untested=[str(error)], requests=requests)
    probes = [SamplingProbe(a, p, t, s, held.get((a, t), 0)) for a, p, t, s in sent]
    requests = [
        replace(record, result=probe_problem(probe) or "ok")
        for record, probe in zip(requests, probes, strict=True)
    ]
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
