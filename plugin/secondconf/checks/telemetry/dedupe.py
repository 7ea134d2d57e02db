"""TEL-03 of contract §6: A8 stores an event once per (event, app_id, idempotency key,
trace id) within 15 minutes when it has a key, and once per ``event_id`` when it has none.

With a key: a re-send and a new emission of the same four values are one event, another
trace id or another app is a second one, and after the window (crossed with the target's
clock control, where it has one) the four values are stored again. Without a key: a
re-send (same ``event_id``) is one event, and the same trace in another app is a second
one (one trace crosses many apps; each request is its own ``http_request``). The check
posts synthetic, clearly labelled events to A8's ingest: a write, so never ``prod_safe``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Final

from secondconf.checks.telemetry.window import POLL_S, SUBJECT
from secondconf.contract.catalog import rule_by_id
from secondconf.contract.events import HTTP_REQUEST
from secondconf.contract.traceids import (
    HIGH_VOLUME_RATE,
    TRACE_ID_HEADER,
    new_idempotency_key,
    new_sampled_in_trace_id,
)
from secondconf.core.clock import Clock, utc_iso
from secondconf.engine.evidence import RequestRecord
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Verdict
from secondconf.target.a8 import A8Client, TelemetryError
from secondconf.target.control import ControlError, TargetControl

TEL03: Final = rule_by_id("TEL-03")
DEDUPE_WINDOW_S: Final = 900.0
OTHER_APP: Final = "A4"  # the second app of the cross-app cases (any app but A8 would do)


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
    requests: Sequence[RequestRecord] = (),
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
            "requests": [record.to_dict() for record in requests],
        },
    )


def qa_event(trace_id: str, key: str | None, env: str, clock: Clock) -> dict[str, Any]:
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
        "event_id": new_event_id(),
        "data": None,
    }


def new_event_id() -> str:
    """A fresh ``event_id`` (``qa-`` and a random UUID, like the harness's keys)."""
    return f"qa-{uuid.uuid4()}"


def new_emission(event: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """Another emission of ``event`` (a new ``event_id``), with ``changes``."""
    return {**event, **changes, "event_id": new_event_id()}


class _Ingest:
    """Sends the dedupe check's events and keeps the record of every request."""

    def __init__(self, a8: A8Client, headers: Mapping[str, str], clock: Clock, deadline_s: float):
        self.a8 = a8
        self.headers = headers
        self.clock = clock
        self.deadline_s = deadline_s
        self.requests: list[RequestRecord] = []

    async def send(self, event: Mapping[str, Any], what: str) -> bool:
        key = event["idempotency_key"]
        headers = {**self.headers, "X-Idempotency-Key": key or new_idempotency_key()}
        answer = await self.a8.post_events([event], {**headers, TRACE_ID_HEADER: event["trace_id"]})
        sent = (
            f"{what}: {event['app_id']}, key {key or 'none'}, trace {event['trace_id'][:12]}…,"
            f" event_id {event['event_id']}"
        )
        ok = answer.status == 200
        self.requests.append(
            RequestRecord(
                "A8",
                "POST",
                "/v1/events",
                sent,
                answer.status,
                "ok" if ok else "refused",
                trace_id=event["trace_id"],
                idempotency_key=headers["X-Idempotency-Key"],
            )
        )
        return ok

    async def stored(self, trace: str, app_id: str = SUBJECT) -> int:
        page = await self.a8.raw_events(trace_id=trace, event=HTTP_REQUEST, app_id=app_id)
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

    def fresh(key: str | None) -> dict[str, Any]:
        return qa_event(new_sampled_in_trace_id(HIGH_VOLUME_RATE), key, env, clock)

    keyed, unkeyed = fresh(new_idempotency_key()), fresh(None)
    other_trace = new_emission(keyed, trace_id=new_sampled_in_trace_id(HIGH_VOLUME_RATE))
    sends = [
        (keyed, "keyed: first copy"),
        (keyed, "keyed: the same copy re-sent"),
        (new_emission(keyed), "keyed: a new emission of the same event, app, key and trace"),
        (other_trace, "keyed: the same event and key, another trace id"),
        (new_emission(keyed, app_id=OTHER_APP), "keyed: the same event, key and trace, A4"),
        (unkeyed, "no key: first copy"),
        (unkeyed, "no key: the same copy re-sent"),
        (new_emission(unkeyed, app_id=OTHER_APP), "no key: the same trace in A4"),
    ]
    counts = [
        ("the same event, app, key and trace sent three times", keyed["trace_id"], SUBJECT),
        ("the same event and key with another trace id", other_trace["trace_id"], SUBJECT),
        ("the same event, key and trace from another app", keyed["trace_id"], OTHER_APP),
        ("an event without a key re-sent with its event_id", unkeyed["trace_id"], SUBJECT),
        ("the same trace from another app, without a key", unkeyed["trace_id"], OTHER_APP),
    ]
    cases: list[DedupeCase] = []
    untested: list[str] = []
    try:
        sent = [await ingest.send(event, what) for event, what in sends]
        if all(sent) and await ingest.marker(fresh(new_idempotency_key())):
            cases += [DedupeCase(w, 1, await ingest.stored(t, app)) for w, t, app in counts]
        else:
            cases += [DedupeCase(what, 1, None) for what, _, _ in counts]
            untested.append("A8 refused the test events or did not show the marker in time")
        after = "the same event, app, key and trace after 15 minutes"
        if control is None:
            untested.append(f"{after}: the target offers no clock control")
        elif all(sent):
            with control.clock_offset(SUBJECT, DEDUPE_WINDOW_S + 1):
                again = await ingest.send(keyed, "keyed: the first copy, A8's clock 901 s later")
                shown = again and await ingest.marker(fresh(new_idempotency_key()))
            stored = await ingest.stored(keyed["trace_id"]) if shown else None
            cases.append(DedupeCase(after, 2, stored))
    except (TelemetryError, ControlError) as error:
        untested.append(str(error))
    for case in cases:
        if case.problem:
            ingest.requests.append(
                RequestRecord("A8", "GET", "/v1/events", f"count of {case.what}", 200, case.problem)
            )
    return judge_dedupe(cases, untested=untested, requests=ingest.requests)
