"""The error-correction scenario: A4 answers 503 to A5, and A8 tells what A5 did about it.

1. As the synthetic student, A5 is activated (an account to spend from).
2. A4's ``error_503_fraction`` fault is set to 1 (through the target's control: logged as
   an action, behind ``inject_503`` outside ``embedded``) and :data:`CALLS` spends are
   sent to A5 together, as clients that fail together do: each is retried by A5 and fails;
   the breaker opens after its threshold. One more spend meets the open breaker.
3. The fault is rolled back (also when anything fails), A5's clock is moved past the
   ``Retry-After`` of that refusal, and one probe spend is sent: the breaker should go
   half-open and close on it. A5's clock is put back.
4. A8's ``retry_attempted`` and ``circuit_*`` events of these calls are read, once A8 holds
   the probe's ``circuit_closed`` or ``credit_decrement`` (or the telemetry deadline passes).
5. An A3 run whose first attempt of every cycle fails is started (``fail_attempts``); A3's
   record and A8's events of its trace say whether each cycle healed.

The A5 routes (``POST /v1/activations``, ``POST /v1/credits/spend``) are the reference's
"A5 calls A4" path (docs/contract.md, harness extension).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any, Final

import httpx

from secondconf.checks.error_correction.model import (
    ErrorCorrectionRun,
    HealRun,
    RetrySample,
    Transition,
)
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
from secondconf.target.control import ControlError, TargetControl
from secondconf.target.identity import AccessToken
from secondconf.target.map import SystemMap

CALLS: Final = 40  # spends released together while A4 fails: 40 x 5 retries
SPEND_PATH: Final = "/v1/credits/spend"
ACTIVATION_PATH: Final = "/v1/activations"
RUNS_PATH: Final = "/v1/runs"
SPEND_BODY: Final = {"kind": "explain", "units": 1}
BREAKER_EVENTS: Final = ("circuit_opened", "circuit_half_opened", "circuit_closed")
# The probe's last events: the breaker closing on it, or the spend it paid for (a breaker
# that never opened has nothing to close).
PROBE_MARKERS: Final = frozenset({"circuit_closed", "credit_decrement"})
HEAL_CYCLES: Final = 2
POLL_S: Final = 0.1
RUN_DEADLINE_S: Final = 20.0
EVENT_LIMIT: Final = 10_000


class _Caller:
    """Sends the scenario's requests as the synthetic student."""

    def __init__(self, client: httpx.AsyncClient, system_map: SystemMap, token: AccessToken):
        self.client = client
        self.map = system_map
        self.headers = {**token.authorization, **synthetic_headers(SyntheticIdentity.STUDENT)}

    def url(self, app_id: str, path: str) -> str:
        return self.map.apps[app_id].base_url + path

    async def post(
        self, app_id: str, path: str, body: Mapping[str, Any], trace_id: str | None = None
    ) -> tuple[str, httpx.Response | None]:
        trace = trace_id or new_trace_id()
        headers = {
            **self.headers,
            TRACE_ID_HEADER: trace,
            IDEMPOTENCY_KEY_HEADER: new_idempotency_key(),
        }
        try:
            answer = await self.client.post(
                self.url(app_id, path), json=dict(body), headers=headers, timeout=30.0
            )
        except httpx.HTTPError:
            return trace, None
        return trace, answer

    async def get(self, app_id: str, path: str) -> httpx.Response | None:
        try:
            return await self.client.get(self.url(app_id, path), headers=self.headers)
        except httpx.HTTPError:
            return None


def _status(answer: httpx.Response | None) -> int | None:
    return None if answer is None else answer.status_code


def _retry_after_s(answer: httpx.Response | None) -> float | None:
    value = None if answer is None else answer.headers.get("retry-after")
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


async def run_error_correction(
    client: httpx.AsyncClient,
    system_map: SystemMap,
    a8: A8Client,
    token: AccessToken,
    control: TargetControl | None,
    clock: Clock,
    *,
    deadline_s: float,
    calls: int = CALLS,
) -> ErrorCorrectionRun:
    """Run the scenario; every fault it sets is rolled back before it returns."""
    began = time.monotonic()
    since = clock.now()
    run = ErrorCorrectionRun(started_at=utc_iso(since))
    if control is None:
        run.untested.append(
            "the target offers no fault control (or no inject_503 approval): A4 cannot be "
            "made to answer 503"
        )
        return run
    caller = _Caller(client, system_map, token)
    try:
        await _faulted_calls(caller, control, run, calls)
        await _collect(a8, run, since, clock, deadline_s)
        run.heal = await _heal(caller, a8, clock, deadline_s)
    except (ControlError, TelemetryError) as error:
        run.untested.append(str(error))
    run.wall_s = round(time.monotonic() - began, 3)
    return run


async def _faulted_calls(
    caller: _Caller, control: TargetControl, run: ErrorCorrectionRun, calls: int
) -> None:
    _, activated = await caller.post("A5", ACTIVATION_PATH, {})
    if _status(activated) not in (200, 201):
        run.untested.append(f"A5 {ACTIVATION_PATH} answered {_status(activated)}")
        return
    with control.faults(("A4",), {"error_503_fraction": 1.0}):
        answers = await asyncio.gather(
            *(caller.post("A5", SPEND_PATH, SPEND_BODY) for _ in range(calls))
        )
        run.calls = calls
        run.traces = [trace for trace, _ in answers]
        for _, answer in answers:
            key = str(_status(answer))
            run.statuses[key] = run.statuses.get(key, 0) + 1
        trace, refused = await caller.post("A5", SPEND_PATH, SPEND_BODY)
        run.refused = {
            "trace_id": trace,
            "status": _status(refused),
            "retry_after_s": _retry_after_s(refused),
        }
    # The fault is gone; a probe once the open period is over (on A5's clock).
    wait_s = (run.refused.get("retry_after_s") or 0.0) + 1.0
    with control.clock_offset("A5", wait_s):
        trace, probe = await caller.post("A5", SPEND_PATH, SPEND_BODY)
    run.probe = {"trace_id": trace, "status": _status(probe), "clock_moved_s": wait_s}


async def _collect(
    a8: A8Client, run: ErrorCorrectionRun, since: Any, clock: Clock, deadline_s: float
) -> None:
    """Read A8's retry and breaker events of the scenario's calls (by trace id), once A8
    holds the probe's last event (:data:`PROBE_MARKERS`) or the deadline has passed."""
    probe_trace = run.probe.get("trace_id")
    if probe_trace is None:
        return
    end = clock.monotonic() + deadline_s
    while clock.monotonic() < end:
        # A5 emits in order: once the probe's last event is in, so is everything before it.
        names = {i.get("event") for i in (await a8.raw_events(trace_id=probe_trace)).items}
        if names & PROBE_MARKERS:
            break
        await asyncio.sleep(POLL_S)
    ours = {*run.traces, run.refused.get("trace_id"), probe_trace}
    retries = await a8.raw_events(
        app_id="A5", event="retry_attempted", since=since, limit=EVENT_LIMIT
    )
    breaker: list[dict[str, Any]] = []
    for name in BREAKER_EVENTS:
        breaker += (await a8.raw_events(app_id="A5", event=name, since=since)).items
    refused_trace = run.refused.get("trace_id")
    run.refused["retries"] = sum(1 for i in retries.items if i.get("trace_id") == refused_trace)
    samples = [_retry(item) for item in retries.items if item.get("trace_id") in ours]
    run.retries = [sample for sample in samples if sample is not None]
    run.transitions = [_transition(item) for item in breaker if item.get("trace_id") in ours]


def _retry(item: Mapping[str, Any]) -> RetrySample | None:
    data = item.get("data")
    if not isinstance(data, dict):
        return None
    try:
        return RetrySample(
            trace_id=str(item.get("trace_id")),
            attempt=int(data["attempt"]),
            delay_ms=float(data["delay_ms"]),
            base_ms=float(data["base_ms"]),
            cap_ms=float(data["cap_ms"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _transition(item: Mapping[str, Any]) -> Transition:
    raw = item.get("data")
    data: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    return Transition(
        trace_id=str(item.get("trace_id")),
        event=str(item.get("event")),
        dependency=data.get("dependency"),
        source=data.get("from"),
        to=data.get("to"),
        timestamp=str(item.get("timestamp")),
        received_at=str(item.get("received_at")),
    )


async def _heal(caller: _Caller, a8: A8Client, clock: Clock, deadline_s: float) -> HealRun:
    """A run whose first attempt of each cycle fails; its record once it has ended."""
    body = {
        "goal": "secondconf error correction: heal a failed cycle",
        "cycles": HEAL_CYCLES,
        "cycle_interval_ms": 0,
        "fail_attempts": 1,
    }
    trace, created = await caller.post("A3", RUNS_PATH, body)
    if _status(created) != 201 or created is None:
        return HealRun(None, trace, HEAL_CYCLES, {"state": f"not started ({_status(created)})"}, {})
    run_id = str(created.json().get("id"))
    record: dict[str, Any] = {}
    end = clock.monotonic() + RUN_DEADLINE_S
    while clock.monotonic() < end:
        answer = await caller.get("A3", f"{RUNS_PATH}/{run_id}")
        record = answer.json() if answer is not None and answer.status_code == 200 else {}
        if record.get("state") not in (None, "running"):
            break
        await asyncio.sleep(POLL_S)
    events = await _count_events(a8, trace, clock, deadline_s, record)
    return HealRun(run_id, trace, HEAL_CYCLES, record, events)


async def _count_events(
    a8: A8Client, trace: str, clock: Clock, deadline_s: float, record: Mapping[str, Any]
) -> dict[str, int]:
    """Events of the run's trace per name, once A8 holds one cycle completion per
    completed cycle (or the deadline has passed)."""
    expected = int(record.get("cycles_completed") or 0)
    end = clock.monotonic() + deadline_s
    while True:
        items = (await a8.raw_events(trace_id=trace)).items
        counts: dict[str, int] = {}
        for item in items:
            name = str(item.get("event"))
            counts[name] = counts.get(name, 0) + 1
        if counts.get("orchestration_cycle_complete", 0) >= expected or clock.monotonic() > end:
            return counts
        await asyncio.sleep(POLL_S)
