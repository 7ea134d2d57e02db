"""PII-01 and PII-02: users appear only as pseudonymous ids (contract §14).

PII-01 plants the run's canaries (:class:`~secondconf.checks.compliance.pii.Canaries`) in
what a student can type and send (a spend's ``prompt``, a work item's ``reference`` and
``prompt``, the ``User-Agent``, a client address in ``X-Forwarded-For``), as the synthetic
student, then reads every event A8 holds for those traces and searches each field for the
canaries and for PII patterns. It waits (bounded) for the spend's ``credit_decrement``,
the event the planted text would most likely leak into; a run whose planted requests
did not go through has tested nothing and is INCONCLUSIVE, never PASS.

PII-02 searches the run's files (evidence, reports, Allure results, the embedded
target's logs) for the same, once PII-01 planted its canaries. The reports written at
session end are searched by the final scan
(:func:`secondconf.pytest_plugin.final_scan.final_scan_for_session`), for the patterns.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from secondconf.checks.compliance.actor import (
    EVENT_DEADLINE_S,
    POLL_S,
    SPEND,
    WORK,
    Actor,
    status,
    work_example,
)
from secondconf.checks.compliance.pii import Canaries
from secondconf.checks.compliance.pii_scan import PiiScan, scan_events, scan_files
from secondconf.contract.catalog import rule_by_id
from secondconf.contract.platform import SyntheticIdentity
from secondconf.contract.traceids import new_sampled_in_trace_id
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Outcome, Reason, Verdict
from secondconf.target.a8 import A8Client, TelemetryError

PII_01: Final = rule_by_id("PII-01")
PII_02: Final = rule_by_id("PII-02")
STUDENT: Final = SyntheticIdentity.STUDENT.value


@dataclass
class Planted:
    """The traces of the canary-carrying requests, and what did not go through."""

    traces: list[str] = field(default_factory=list)
    decrement_trace: str | None = None  # the spend's: it must cause a credit_decrement
    untested: list[str] = field(default_factory=list)


async def plant_canaries(actor: Actor, canaries: Canaries) -> Planted:
    """The student's spend and work with the canaries typed in and sent along."""
    planted = Planted()
    headers = {"User-Agent": canaries.user_agent, "X-Forwarded-For": canaries.client_ip}
    example = await work_example(actor)
    if example is None:
        planted.untested.extend(actor.problems)
        return planted
    await actor.send("POST", ("A5", "/v1/activations"), STUDENT, body={}, headers=headers)
    sends = (
        (SPEND, {**example, "prompt": canaries.free_text}),
        (WORK, {**example, "reference": canaries.name, "prompt": canaries.free_text}),
    )
    for route, body in sends:
        trace = new_sampled_in_trace_id(0.1)
        answer = await actor.send(
            "POST", route, STUDENT, body=body, trace_id=trace, headers=headers
        )
        if answer is None or answer.status_code != 201:
            planted.untested.append(f"{route[0]} POST {route[1]} answered {status(answer)}")
            continue
        planted.traces.append(trace)
        if route == SPEND:
            planted.decrement_trace = trace
    planted.untested.extend(actor.problems)
    return planted


async def _events_of(a8: A8Client, planted: Planted) -> list[dict[str, object]]:
    """Every event A8 holds for the planted traces, once the spend's credit_decrement is
    in (or the deadline passed: then whatever arrived)."""
    deadline = time.monotonic() + EVENT_DEADLINE_S
    while True:
        events = []
        for trace in planted.traces:
            events.extend((await a8.raw_events(trace_id=trace)).items)
        decremented = any(
            e.get("event") == "credit_decrement" and e.get("trace_id") == planted.decrement_trace
            for e in events
        )
        if decremented or planted.decrement_trace is None or time.monotonic() > deadline:
            return events
        await asyncio.sleep(POLL_S)


async def check_telemetry_pii(actor: Actor, a8: A8Client, canaries: Canaries) -> Verdict:
    """PII-01: no canary and no PII pattern in any field of the planted traces' events."""
    planted = await plant_canaries(actor, canaries)
    scan = PiiScan()
    untested = list(planted.untested)
    try:
        events = await _events_of(a8, planted) if planted.traces else []
    except TelemetryError as error:
        events, untested = [], [*untested, str(error)]
    scan_events(events, canaries, scan)
    complete = planted.decrement_trace is not None and any(
        e.get("event") == "credit_decrement" for e in events
    )
    if planted.decrement_trace is not None and not complete:
        untested.append(f"A8 held no credit_decrement of the spend within {EVENT_DEADLINE_S} s")
    return rule_verdict(  # without the spend's event, a clean scan proves nothing
        PII_01,
        "A8",
        cases=scan.events_scanned if complete else 0,
        violations=scan.violations(),
        untested=untested,
        source="a8",
        details={"traces": planted.traces, "scan": scan.to_dict(), "planted": _planted_where()},
    )


def _planted_where() -> list[str]:
    """Where the canaries went, by field name (the values are never recorded)."""
    return [
        "A5 POST /v1/credits/spend: prompt",
        "A4 POST /v1/work: reference, prompt",
        "every request: User-Agent, X-Forwarded-For",
    ]


def check_output_pii(folders: Sequence[Path], canaries: Canaries | None) -> Verdict:
    """PII-02: no canary and no PII pattern in the files under ``folders``."""
    scan = scan_files(folders, canaries)
    verdict = rule_verdict(
        PII_02,
        "outputs",
        cases=scan.files_scanned,
        violations=scan.violations(),
        untested=scan.skipped,
        source="files",
        details={"folders": [str(f) for f in folders], "scan": scan.to_dict()},
    )
    if verdict.outcome is Outcome.INCONCLUSIVE:  # as PRD-41: folders still empty are no gap
        return dataclasses.replace(verdict, outcome=Outcome.PASS, reason=Reason.CHECK_PASSED)
    return verdict
