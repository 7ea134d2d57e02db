"""A3 under dependency faults (contract §9, §13; DEP-01): with A4 failing, A3 heals.

One A3 run is started as the synthetic student and watched through its record
(``GET /v1/runs/{id}``) in three phases: a healthy baseline, a fault window with 503s on
a fraction of A4's requests (through the logged fault control: set, then cleared in a
``finally``, each an action in the HITL log), and a recovery window after the rollback.
Each sample keeps the run's state and counters (cycles succeeded and failed, heals, manual
interventions), so the judge (:mod:`secondconf.checks.resiliency.a3_judge`) can say how
many cycles met a failure while A4 failed and healed, whether the run went on, and
whether A3 was healthy once A4 was back. Time is read from the injected clock.
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
    cycles: int = 100  # A3's maximum: more than the three windows complete
    cycle_interval_ms: int = 200
    unhealed_threshold: float = 0.2  # PASS: share of failure-hit cycles that never healed
    progress_floor: float = 0.25  # of the baseline's cycle rate, kept while A4 fails
    min_cycles_after: int = 3  # cycles A3 must complete once A4 is back


@dataclass(frozen=True)
class RunSample:
    """The run's record at ``t_s`` seconds from the phase's start."""

    t_s: float
    phase: str  # baseline | fault | recovery
    state: str
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
    run_id: str | None = None
    samples: tuple[RunSample, ...] = ()
    fault_at_s: float | None = None
    recovered_at_s: float | None = None
    ready_status: int | None = None  # A3's /ready at the end
    wall_s: float = 0.0
    problem: str | None = None

    def last(self, phase: str) -> RunSample | None:
        """The last sample of ``phase``."""
        return next((s for s in reversed(self.samples) if s.phase == phase), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": asdict(self.plan),
            "run_id": self.run_id,
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
            run_id=data.get("run_id"),
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


class _Watch:
    """Reads the run's record every ``poll_s`` and keeps each reading as a sample."""

    def __init__(
        self, client: httpx.AsyncClient, url: str, headers: Mapping[str, str], clock: Clock
    ) -> None:
        self.client, self.url, self.headers, self.clock = client, url, dict(headers), clock
        self.started = clock.monotonic()
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
        try:
            answer = await self.client.get(self.url, headers=self.headers)
            record = answer.json() if answer.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            record = {}
        record = record if isinstance(record, dict) else {}
        self.samples.append(
            RunSample(
                t_s=self.elapsed(),
                phase=phase,
                state=str(record.get("state", "unreadable")),
                succeeded=_count(record, "cycles_succeeded"),
                failed=_count(record, "cycles_failed"),
                heals=_count(record, "heals"),
                interventions=_count(record, "manual_interventions"),
            )
        )


async def run_a3_under_a4(
    client: httpx.AsyncClient,
    system_map: SystemMap,
    token: AccessToken,
    control: TargetControl,
    clock: Clock,
    plan: DependencyPlan,
) -> DependencyRun:
    """Start the run, then baseline, fault (always rolled back) and recovery windows."""
    started = clock.monotonic()
    headers = {**token.authorization, **synthetic_headers(SyntheticIdentity.STUDENT)}
    base = system_map.apps[WATCHED_APP].base_url
    body = {
        "goal": "secondconf DEP-01: A3 under A4's 503s",
        "cycles": plan.cycles,
        "cycle_interval_ms": plan.cycle_interval_ms,
    }
    post_headers = {
        **headers,
        TRACE_ID_HEADER: new_trace_id(),
        IDEMPOTENCY_KEY_HEADER: new_idempotency_key(),
    }
    try:
        created = await client.post(base + RUNS_PATH, json=body, headers=post_headers)
        run_id = created.json().get("id") if created.status_code == 201 else None
    except (httpx.HTTPError, ValueError):
        created, run_id = None, None
    if not isinstance(run_id, str):
        status = "no answer" if created is None else f"answered {created.status_code}"
        return DependencyRun(plan, problem=f"A3 POST {RUNS_PATH}: {status}, no run started")
    watch = _Watch(client, f"{base}{RUNS_PATH}/{run_id}", headers, clock)
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
        run_id=run_id,
        samples=tuple(watch.samples),
        fault_at_s=fault_at,
        recovered_at_s=recovered_at,
        ready_status=ready,
        wall_s=round(clock.monotonic() - started, 3),
    )
