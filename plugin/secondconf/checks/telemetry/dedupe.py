"""TEL-03 of contract §6: A8 stores an event once per (event, idempotency key, trace id).

Within 15 minutes a repeat is one event and another trace id is a second one; after the
window (crossed with the target's clock control, where it has one) the triple is stored
again. The check posts synthetic, clearly labelled events to A8's ingest: a write, so it
is never ``prod_safe``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Final

from secondconf.checks.telemetry.schema import HTTP_REQUEST
from secondconf.checks.telemetry.window import POLL_S, SUBJECT, request_record
from secondconf.contract.catalog import rule_by_id
from secondconf.contract.traceids import (
    HIGH_VOLUME_RATE,
    TRACE_ID_HEADER,
    new_idempotency_key,
    new_sampled_in_trace_id,
)
from secondconf.core.clock import Clock, utc_iso
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Verdict
from secondconf.target.a8 import A8Client, TelemetryError
from secondconf.target.control import ControlError, TargetControl

TEL03: Final = rule_by_id("TEL-03")
DEDUPE_WINDOW_S: Final = 900.0


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
            request_record(
                "A8", "POST", "/v1/events", sent, answer.status, "ok" if ok else "refused"
            )
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
                request_record(
                    "A8", "GET", "/v1/events", f"count of {case.what}", 200, case.problem
                )
            )
    return judge_dedupe(cases, untested=untested, requests=ingest.requests)
