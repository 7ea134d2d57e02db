"""The autonomy scenario: two A3 runs through 210 minutes of A3's time, then A8's view.

* The watched run: ``plan.cycles`` cycles ``plan.cycle_interval_s`` apart. After each step
  of A3's time (:mod:`.timeline`) the harness waits until A3's record shows the step's
  cycle done (or ``plan.step_deadline_s`` passes, or the run ends), then takes the next
  step; one step after the run has ended it is read again (its minutes must have stopped).
* The reset run: long; after ``plan.intervention_step`` steps it is read, gets a ``note``
  intervention, and is read again at once and as many steps later; then it is aborted.
* Growth: a page of the check's own is built, published and viewed on A7
  (``page_published``, ``cta_emitted``).
* A8: the watched run's events (by its trace id), once it holds one
  ``orchestration_cycle_complete`` per completed cycle or the telemetry deadline passed.

A3's time always goes back as it was (``timeline.restore()``), also when the scenario fails.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any, Final

import httpx

from secondconf.checks.autonomy.model import AutonomyPlan, AutonomyRun, Step
from secondconf.checks.autonomy.timeline import Timeline
from secondconf.contract.platform import SyntheticIdentity
from secondconf.contract.traceids import (
    IDEMPOTENCY_KEY_HEADER,
    TRACE_ID_HEADER,
    new_idempotency_key,
    new_trace_id,
)
from secondconf.core.clock import Clock, utc_iso
from secondconf.target.a8 import A8Client, TelemetryError
from secondconf.target.client import synthetic_headers
from secondconf.target.control import ControlError
from secondconf.target.identity import AccessToken
from secondconf.target.map import SystemMap

RUNS_PATH: Final = "/v1/runs"
RESET_CYCLES: Final = 100  # A3 takes at most 100 cycles; 1000 minutes at the gate's pace
POLL_S: Final = 0.05
RUN_EVENTS: Final = frozenset(
    {"run_progress", "orchestration_cycle_complete", "run_stalled", "cycle_failed"}
)
KEPT_FIELDS: Final = ("event", "app_id", "timestamp", "received_at", "trace_id", "data")


class _Caller:
    """The scenario's requests, as the synthetic student."""

    def __init__(self, client: httpx.AsyncClient, system_map: SystemMap, token: AccessToken):
        self.client = client
        self.map = system_map
        self.headers = {**token.authorization, **synthetic_headers(SyntheticIdentity.STUDENT)}

    def _url(self, app_id: str, path: str) -> str:
        return self.map.apps[app_id].base_url + path

    async def post(
        self, app_id: str, path: str, body: Mapping[str, Any]
    ) -> tuple[str, dict[str, Any] | None, int | None]:
        """The trace id it was sent with, the JSON answer (None if none) and its status."""
        trace = new_trace_id()
        headers = {
            **self.headers,
            TRACE_ID_HEADER: trace,
            IDEMPOTENCY_KEY_HEADER: new_idempotency_key(),
        }
        try:
            answer = await self.client.post(
                self._url(app_id, path), json=dict(body), headers=headers
            )
            document = answer.json() if answer.content else None
        except (httpx.HTTPError, ValueError):
            return trace, None, None
        return trace, document if isinstance(document, dict) else None, answer.status_code

    async def get(self, app_id: str, path: str, trace: str | None = None) -> httpx.Response | None:
        headers = {**self.headers, TRACE_ID_HEADER: trace or new_trace_id()}
        try:
            return await self.client.get(self._url(app_id, path), headers=headers)
        except httpx.HTTPError:
            return None

    async def run_record(self, run_id: str) -> dict[str, Any]:
        answer = await self.get("A3", f"{RUNS_PATH}/{run_id}")
        if answer is None or answer.status_code != 200:
            return {}
        document = answer.json()
        return document if isinstance(document, dict) else {}


async def run_autonomy(
    client: httpx.AsyncClient,
    system_map: SystemMap,
    a8: A8Client,
    token: AccessToken,
    timeline: Timeline,
    clock: Clock,
    plan: AutonomyPlan,
    *,
    deadline_s: float,
) -> AutonomyRun:
    """Play the scenario; A3's time is put back before this returns."""
    began = time.monotonic()
    run = AutonomyRun(asdict(plan), timeline.virtual, utc_iso(clock.now()))
    caller = _Caller(client, system_map, token)
    try:
        try:
            await _runs(caller, timeline, clock, plan, run)
        finally:
            timeline.restore()
        run.growth = await _growth(caller, a8, clock, deadline_s)
        if run.trace_id is not None:
            run.events = await _run_events(a8, run.trace_id, run.record, clock, deadline_s)
    except (ControlError, TelemetryError) as error:
        run.untested.append(str(error))
    run.wall_s = round(time.monotonic() - began, 3)
    return run


async def _runs(
    caller: _Caller, timeline: Timeline, clock: Clock, plan: AutonomyPlan, run: AutonomyRun
) -> None:
    interval_ms = round(plan.cycle_interval_s * 1000)
    body = {"goal": "secondconf autonomy", "cycles": plan.cycles, "cycle_interval_ms": interval_ms}
    trace, created, status = await caller.post("A3", RUNS_PATH, body)
    if created is None or status != 201:
        run.untested.append(f"A3 POST {RUNS_PATH} answered {status}: no run to watch")
        return
    run.run_id, run.trace_id = str(created.get("id")), trace
    reset_body = {**body, "goal": "secondconf autonomy reset", "cycles": RESET_CYCLES}
    _, reset_created, _ = await caller.post("A3", RUNS_PATH, reset_body)
    reset = _ResetRun(caller, clock, timeline, reset_created)
    record = await _await_cycles(caller, run.run_id, 1, plan.step_deadline_s)
    run.steps.append(Step(0, utc_iso(clock.now()), 0.0, _completed(record), record.get("state")))
    for index in range(1, plan.cycles):
        real_at = utc_iso(clock.now())
        await timeline.advance(plan.cycle_interval_s)
        record = await _await_cycles(caller, run.run_id, index + 1, plan.step_deadline_s)
        run.steps.append(
            Step(index, real_at, timeline.offset_s, _completed(record), record.get("state"))
        )
        if index == plan.intervention_step:
            await reset.intervene()
        elif index == 2 * plan.intervention_step:
            await reset.read_later()
        if record.get("state") != "running":
            break
    run.record = record
    if record.get("state") not in (None, "running"):
        real_at = utc_iso(clock.now())
        await timeline.advance(plan.cycle_interval_s)
        run.record_after_end = await caller.run_record(run.run_id)
        run.steps.append(Step(len(run.steps), real_at, timeline.offset_s, -1, "after end"))
    run.reset = await reset.finish()


def _completed(record: Mapping[str, Any]) -> int:
    value = record.get("cycles_completed")
    return value if isinstance(value, int) else 0


async def _await_cycles(
    caller: _Caller, run_id: str, cycles: int, deadline_s: float
) -> dict[str, Any]:
    """The run's record once it shows ``cycles`` cycles done, it has ended, or the
    deadline has passed (a stalled cycle never completes)."""
    end = time.monotonic() + deadline_s
    while True:
        record = await caller.run_record(run_id)
        if _completed(record) >= cycles or record.get("state") != "running":
            return record
        if time.monotonic() > end:
            return record
        await asyncio.sleep(POLL_S)


class _ResetRun:
    """The run whose autonomous minutes an intervention must restart (AUT-05)."""

    def __init__(
        self,
        caller: _Caller,
        clock: Clock,
        timeline: Timeline,
        created: Mapping[str, Any] | None,
    ) -> None:
        self.caller = caller
        self.clock = clock
        self.timeline = timeline
        self.run_id = None if created is None else str(created.get("id"))
        self.readings: dict[str, Any] = {"run_id": self.run_id}
        self._origin = self._now()

    def _now(self) -> float:
        """Seconds on A3's clock as the harness knows it: its own clock plus the offset."""
        return self.clock.now().timestamp() + self.timeline.offset_s

    def _expected(self, since: float) -> float:
        return (self._now() - since) / 60.0

    async def intervene(self) -> None:
        if self.run_id is None:
            return
        before = await self.caller.run_record(self.run_id)
        self.readings["before"] = {
            "minutes": before.get("autonomous_minutes"),
            "expected": self._expected(self._origin),
        }
        path = f"{RUNS_PATH}/{self.run_id}/interventions"
        note = {"action": "note", "reason": "secondconf: an intervention restarts the count"}
        _, after, status = await self.caller.post("A3", path, note)
        self._origin = self._now()
        self.readings["after"] = {
            "status": status,
            "minutes": None if after is None else after.get("autonomous_minutes"),
            "expected": 0.0,
            "manual_interventions": None if after is None else after.get("manual_interventions"),
        }

    async def read_later(self) -> None:
        if self.run_id is None or "after" not in self.readings:
            return
        later = await self.caller.run_record(self.run_id)
        self.readings["later"] = {
            "minutes": later.get("autonomous_minutes"),
            "expected": self._expected(self._origin),
            "manual_interventions": later.get("manual_interventions"),
        }

    async def finish(self) -> dict[str, Any]:
        """Abort the run (it would otherwise go on for days) and hand over the readings."""
        if self.run_id is not None:
            path = f"{RUNS_PATH}/{self.run_id}/interventions"
            await self.caller.post("A3", path, {"action": "abort", "reason": "secondconf: done"})
        return self.readings


async def _growth(caller: _Caller, a8: A8Client, clock: Clock, deadline_s: float) -> dict[str, Any]:
    """A page built, published and viewed on A7; how long each event took to reach A8."""
    slug = f"secondconf-autonomy-{uuid.uuid4().hex[:12]}"
    page = {"slug": slug, "title": "secondconf autonomy check"}
    _, built, status = await caller.post("A7", "/v1/pages", page)
    if built is None or status != 201:
        return {"untested": f"A7 POST /v1/pages answered {status}"}
    publish_trace, _, published = await caller.post(
        "A7", f"/v1/pages/{built.get('id')}/publish", {}
    )
    view_trace = new_trace_id()
    viewed = await caller.get("A7", f"/p/{slug}", view_trace)
    found = {
        "page_published": await _delivery(a8, publish_trace, "page_published", clock, deadline_s),
        "cta_emitted": await _delivery(a8, view_trace, "cta_emitted", clock, deadline_s),
    }
    found["page_published"]["status"] = published
    found["cta_emitted"]["status"] = None if viewed is None else viewed.status_code
    return found


async def _delivery(
    a8: A8Client, trace: str, event: str, clock: Clock, deadline_s: float
) -> dict[str, Any]:
    """The first ``event`` of ``trace`` in A8 and its latency (received_at - timestamp)."""
    end = clock.monotonic() + deadline_s
    while True:
        items = (await a8.raw_events(trace_id=trace, event=event)).items
        if items:
            item = items[0]
            latency = _seconds(item["received_at"]) - _seconds(item["timestamp"])
            return {"trace_id": trace, "latency_s": round(latency, 3)}
        if clock.monotonic() > end:
            return {"trace_id": trace, "latency_s": None}
        await asyncio.sleep(POLL_S * 4)


def _seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def _run_events(
    a8: A8Client, trace: str, record: Mapping[str, Any], clock: Clock, deadline_s: float
) -> list[dict[str, Any]]:
    """The run's cycle events in A8, once every completed cycle's completion is there
    (and the stall, for a stalled run) or the deadline has passed."""
    expected = _completed(record)
    stalled = record.get("state") == "stalled"
    end = clock.monotonic() + deadline_s
    while True:
        items = [
            i for i in (await a8.raw_events(trace_id=trace)).items if i.get("event") in RUN_EVENTS
        ]
        names = [i.get("event") for i in items]
        complete = names.count("orchestration_cycle_complete") >= expected
        if (complete and (not stalled or "run_stalled" in names)) or clock.monotonic() > end:
            return [{name: item.get(name) for name in KEPT_FIELDS} for item in items]
        await asyncio.sleep(POLL_S * 4)
