"""A3 under dependency faults (contract §9, §13; DEP-01): with A4 failing, A3 heals.

A few A3 runs are started at once as the synthetic student and watched through their
records (``GET /v1/runs/{id}``) in three phases: a healthy baseline, a fault window with
503s on a fraction of A4's requests (through the logged fault control: set, then cleared in
a ``finally``, each an action in the HITL log), and a recovery window after the rollback.
Each sample sums the runs' counters (cycles succeeded and failed, heals, manual
interventions) and keeps the worst state, so the judge
(:mod:`secondconf.checks.resiliency.a3_judge`) can say how many cycles met a failure while
A4 failed and healed, whether the runs went on, and whether A3 was healthy once A4 was
back. Several runs, because the heal rate is judged by a bound: three runs give about three
times the failure-hit cycles of one in the same wall time (n of about 70 instead of 20,
where one unlucky cycle would leave a single run's bound straddling the threshold). Time is
read from the injected clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

import httpx

from secondconf.contract.platform import SyntheticIdentity
from secondconf.contract.traceids import (
    IDEMPOTENCY_KEY_HEADER,
    TRACE_ID_HEADER,
    new_idempotency_key,
    new_trace_id,
)
from secondconf.core.clock import Clock
from secondconf.target.client import synthetic_headers
from secondconf.target.control import TargetControl
from secondconf.target.identity import AccessToken
from secondconf.target.map import SystemMap

A3_UNDER_A4_SECTION: Final = "a3_under_a4"
"""The run-info section the report writer reads."""
RUNS_PATH: Final = "/v1/runs"
FAULTED_APP: Final = "A4"
WATCHED_APP: Final = "A3"


@dataclass(frozen=True)
class DependencyPlan:
    """The phase's shape and its bounds (the reasons for each figure are in docs)."""

    fraction: float = 0.5  # of A4's requests answered 503 during the fault window
    baseline_s: float = 3.0
    fault_s: float = 15.0
    recovery_s: float = 4.0
    poll_s: float = 0.25
    runs: int = 3  # started together, watched as one
    cycles: int = 100  # A3's maximum; at 300 ms apart about 80 fit the three windows
    cycle_interval_ms: int = 300
    unhealed_threshold: float = 0.2  # PASS: share of failure-hit cycles that never healed
    progress_floor: float = 0.25  # of the baseline's cycle rate, kept while A4 fails
    min_cycles_after: int = 3  # cycles A3 must complete once A4 is back
    settle_s: float = 1.0  # after the rollback, still the fault's: cycles then in flight


@dataclass(frozen=True)
class RunSample:
    """The run's record at ``t_s`` seconds from the phase's start."""

    t_s: float
    phase: str  # baseline | fault | recovery
    state: str  # the worst of the runs' states (running and completed are fine)
    succeeded: int
    failed: int
    heals: int
    interventions: int

    @property
    def cycles(self) -> int:
        return self.succeeded + self.failed


@dataclass(frozen=True)
class DependencyRun:
    """What the phase saw; ``problem`` says why it could not watch a run."""

    plan: DependencyPlan
    run_ids: tuple[str, ...] = ()
    samples: tuple[RunSample, ...] = ()
    fault_at_s: float | None = None
    recovered_at_s: float | None = None
    ready_status: int | None = None  # A3's /ready at the end
    wall_s: float = 0.0
    problem: str | None = None

    def last(self, phase: str) -> RunSample | None:
        """The last sample of ``phase``."""
        return next((s for s in reversed(self.samples) if s.phase == phase), None)

    def fault_end(self) -> RunSample | None:
        """The last sample up to ``settle_s`` after the rollback: a cycle in flight when A4
        recovered ends as the fault left it, so it counts in the fault window."""
        if self.recovered_at_s is None:
            return self.last("fault")
        until = self.recovered_at_s + self.plan.settle_s
        return next(
            (s for s in reversed(self.samples) if s.phase != "baseline" and s.t_s <= until),
            None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": asdict(self.plan),
            "run_ids": list(self.run_ids),
            "samples": [asdict(s) for s in self.samples],
            "fault_at_s": self.fault_at_s,
            "recovered_at_s": self.recovered_at_s,
            "ready_status": self.ready_status,
            "wall_s": self.wall_s,
            "problem": self.problem,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DependencyRun:
        return cls(
            plan=DependencyPlan(**data["plan"]),
            run_ids=tuple(data.get("run_ids", ())),
            samples=tuple(RunSample(**s) for s in data.get("samples", ())),
            fault_at_s=data.get("fault_at_s"),
            recovered_at_s=data.get("recovered_at_s"),
            ready_status=data.get("ready_status"),
            wall_s=data.get("wall_s", 0.0),
            problem=data.get("problem"),
        )


def _count(record: Mapping[str, Any], name: str) -> int:
    value = record.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _worst(states: list[str]) -> str:
    """The state a sample shows: the first that is neither running nor completed, else
    running while any run is, else completed."""
    bad = [state for state in states if state not in ("running", "completed")]
    return bad[0] if bad else ("running" if "running" in states else "completed")


class _Watch:
    """Reads the runs' records every ``poll_s`` and keeps each reading as one sample."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        urls: list[str],
        headers: Mapping[str, str],
        clock: Clock,
        started: float,
    ) -> None:
        self.client, self.urls, self.headers, self.clock = client, urls, dict(headers), clock
        self.started = started
        self.samples: list[RunSample] = []

    def elapsed(self) -> float:
        return round(self.clock.monotonic() - self.started, 3)

    async def phase(self, name: str, seconds: float, poll_s: float) -> None:
        end = self.clock.monotonic() + seconds
        while True:
            await self.sample(name)
            if self.clock.monotonic() >= end:
                return
            await asyncio.sleep(min(poll_s, max(0.0, end - self.clock.monotonic())))

    async def sample(self, phase: str) -> None:
        records = await asyncio.gather(*(self._record(url) for url in self.urls))
        self.samples.append(
            RunSample(
                t_s=self.elapsed(),
                phase=phase,
                state=_worst([str(r.get("state", "unreadable")) for r in records]),
                succeeded=sum(_count(r, "cycles_succeeded") for r in records),
                failed=sum(_count(r, "cycles_failed") for r in records),
                heals=sum(_count(r, "heals") for r in records),
                interventions=sum(_count(r, "manual_interventions") for r in records),
            )
        )

    async def _record(self, url: str) -> Mapping[str, Any]:
        try:
            answer = await self.client.get(url, headers=self.headers)
            record = answer.json() if answer.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            record = {}
        return record if isinstance(record, dict) else {}


async def _start_run(
    client: httpx.AsyncClient, url: str, headers: Mapping[str, str], plan: DependencyPlan
) -> str:
    """One run's id, or a one-line problem raised as ``ValueError``."""
    body = {
        "goal": "secondconf DEP-01: A3 under A4's 503s",
        "cycles": plan.cycles,
        "cycle_interval_ms": plan.cycle_interval_ms,
    }
    sent = {
        **headers,
        TRACE_ID_HEADER: new_trace_id(),
        IDEMPOTENCY_KEY_HEADER: new_idempotency_key(),
    }
    try:
        created = await client.post(url, json=body, headers=sent)
        run_id = created.json().get("id") if created.status_code == 201 else None
    except (httpx.HTTPError, ValueError):
        raise ValueError(f"A3 POST {RUNS_PATH}: no answer, no run started") from None
    if not isinstance(run_id, str):
        raise ValueError(f"A3 POST {RUNS_PATH}: answered {created.status_code}, no run started")
    return run_id


async def run_a3_under_a4(
    client: httpx.AsyncClient,
    system_map: SystemMap,
    token: AccessToken,
    control: TargetControl,
    clock: Clock,
    plan: DependencyPlan,
) -> DependencyRun:
    """Start the runs, then baseline, fault (always rolled back) and recovery windows."""
    started = clock.monotonic()
    headers = {**token.authorization, **synthetic_headers(SyntheticIdentity.STUDENT)}
    base = system_map.apps[WATCHED_APP].base_url + RUNS_PATH
    try:
        run_ids = [await _start_run(client, base, headers, plan) for _ in range(plan.runs)]
    except ValueError as problem:
        return DependencyRun(plan, problem=str(problem))
    watch = _Watch(client, [f"{base}/{r}" for r in run_ids], headers, clock, started)
    await watch.phase("baseline", plan.baseline_s, plan.poll_s)
    fault_at = watch.elapsed()
    with control.faults((FAULTED_APP,), {"error_503_fraction": plan.fraction}):
        await watch.phase("fault", plan.fault_s, plan.poll_s)
    recovered_at = watch.elapsed()
    await watch.phase("recovery", plan.recovery_s, plan.poll_s)
    try:
        ready: int | None = (await client.get(system_map.apps[WATCHED_APP].ready_url)).status_code
    except httpx.HTTPError:
        ready = None
    return DependencyRun(
        plan=plan,
        run_ids=tuple(run_ids),
        samples=tuple(watch.samples),
        fault_at_s=fault_at,
        recovered_at_s=recovered_at,
        ready_status=ready,
        wall_s=round(clock.monotonic() - started, 3),
    )
