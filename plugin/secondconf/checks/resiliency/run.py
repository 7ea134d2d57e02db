"""The phase-7 run: clear what an interrupted run left behind, then every drill in turn."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from secondconf.checks.resiliency.drills import (
    CONFIRMATION,
    DETECTION,
    DRILLS,
    STEADY_STATE,
    DrillResult,
    DrillSpec,
    DrillTarget,
    Measure,
    ProbePlan,
    clear_leftovers,
    open_connections,
    pooled_slo,
    probes_judged,
    run_drill,
    steady_state_not_met,
)
from secondconf.checks.resiliency.progress import DrillProgress
from secondconf.core.progress import ProgressThrottle
from secondconf.engine.verdict import Verdict

DRILLS_SECTION = "resiliency_drills"
"""The run-info section the report writer reads."""


@dataclass(frozen=True)
class DrillsRun:
    """Every drill's result, the leftovers cleared before them, and the phase's wall time."""

    results: tuple[DrillResult, ...] = ()
    steady_state: tuple[Verdict, ...] = ()  # every app pooled, before any fault
    leftovers_cleared: tuple[str, ...] = ()
    wall_s: float = 0.0
    skip_reason: str | None = None  # set when the drills could not run (no approval)
    specs: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)

    def result(self, rule_id: str) -> DrillResult:
        return next(r for r in self.results if r.rule_id == rule_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "results": [r.to_dict() for r in self.results],
            "steady_state": [v.to_dict() for v in self.steady_state],
            "leftovers_cleared": list(self.leftovers_cleared),
            "wall_s": self.wall_s,
            "skip_reason": self.skip_reason,
            "specs": [dict(s) for s in self.specs],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DrillsRun:
        return cls(
            results=tuple(DrillResult.from_dict(r) for r in data["results"]),
            steady_state=tuple(Verdict.from_dict(v) for v in data["steady_state"]),
            leftovers_cleared=tuple(data["leftovers_cleared"]),
            wall_s=data["wall_s"],
            skip_reason=data["skip_reason"],
            specs=tuple(data.get("specs", ())),
        )


async def run_drills(
    target: DrillTarget,
    measure: Measure,
    drills: Sequence[DrillSpec] = DRILLS,
    progress: ProgressThrottle | None = None,
) -> DrillsRun:
    """Leftovers first (a fault still injected would spoil every window), then the drills;
    ``progress`` gets a line at least every 10 s naming the drill and its step."""
    started = target.clock.monotonic()
    tracker = DrillProgress(progress, target.clock, planned_s(drills))

    async def counted(app_ids: Sequence[str], plan: ProbePlan) -> Mapping[str, Sequence[Verdict]]:
        verdicts = await measure(app_ids, plan)
        tracker.judged(probes_judged(verdicts))
        return verdicts

    async with tracker.ticking():
        cleared = await clear_leftovers(target)
        await open_connections(target)
        steady = pooled_slo(
            await counted(list(target.system_map.apps), STEADY_STATE),
            "steady state before the drills",
            "every app",
            {},
            "all apps",
        )
        results = []
        for number, spec in enumerate(drills, 1):
            if not all(v.passed for v in steady):
                results.append(steady_state_not_met(spec, steady))
                continue
            tracker.drill(f"{number}/{len(drills)} {spec.rule_id} ({spec.app_id}: {spec.fault})")
            results.append(await run_drill(spec, target, counted, tracker.step))
    return DrillsRun(
        results=tuple(results),
        steady_state=tuple(steady),
        leftovers_cleared=tuple(cleared),
        wall_s=round(target.clock.monotonic() - started, 3),
        specs=tuple(
            {
                "rule_id": s.rule_id,
                "app": s.app_id,
                "fault": s.fault,
                "recovery_limit_s": s.recovery_limit_s,
                "recovery_from": s.recovery_from,
            }
            for s in drills
        ),
    )


def planned_s(drills: Sequence[DrillSpec]) -> float:
    """The probe windows' seconds: the steady state, then each drill's detection and
    confirmation windows with their burn-ins (A8's reads and the recoveries add to it)."""
    per_drill = sum(p.burn_in_s + p.window_s for p in (DETECTION, CONFIRMATION))
    return STEADY_STATE.burn_in_s + STEADY_STATE.window_s + len(drills) * per_drill
