"""DEP-01's three verdicts on one :class:`DependencyRun` (A3 under A4's 503s).

* heals: of the cycles that met a failure while A4 failed (healed + failed for good), the
  share that never healed must be below the plan's threshold by its upper 95 % Wilson
  bound (a rate, so a bound: too few such cycles is INCONCLUSIVE, never a PASS);
* the run goes on: it stays running (or completes) through the fault window with no
  manual intervention, and keeps at least a floor share of its healthy cycle rate;
* healthy again: once A4 is back, A3 completes cycles again with none failing, the run is
  running or completed, and A3's ``/ready`` answers 200.

The fault window ends ``settle_s`` after the rollback (:meth:`DependencyRun.fault_end`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final

from secondconf.checks.resiliency.a3_under_a4 import DependencyRun, RunSample
from secondconf.contract.catalog import rule_by_id
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Verdict, judge_rate

DEP_01: Final = rule_by_id("DEP-01")
SOURCE: Final = "A3 run record"
HEALS, GOES_ON, HEALTHY = "A3 heals", "A3 run goes on", "A3 healthy after A4"
GOING: Final = ("running", "completed")


def judge_a3_under_a4(run: DependencyRun) -> list[Verdict]:
    """The three verdicts (each FAILs with the reason when no run could be watched)."""
    before, during, after = run.last("baseline"), run.fault_end(), run.last("recovery")
    if run.problem is not None or before is None or during is None or after is None:
        problem = run.problem or "the run's record could not be read in every window"
        return [_rule(subject, [problem], 0, run) for subject in (HEALS, GOES_ON, HEALTHY)]
    return [
        _heals(run, before, during),
        _goes_on(run, before, during),
        _healthy(run, during, after),
    ]


def _details(run: DependencyRun, **figures: Any) -> dict[str, Any]:
    return {
        "rule": DEP_01.rule_id,
        "contract": DEP_01.contract,
        "run_ids": list(run.run_ids),
        "fault": f"error_503_fraction {run.plan.fraction:g} on A4 for {run.plan.fault_s:g} s",
        **figures,
    }


def _rule(subject: str, violations: list[str], cases: int, run: DependencyRun) -> Verdict:
    return rule_verdict(
        DEP_01, subject, cases=cases, violations=violations, source=SOURCE, details=_details(run)
    )


def _heals(run: DependencyRun, before: RunSample, during: RunSample) -> Verdict:
    healed = during.heals - before.heals
    failed = during.failed - before.failed
    verdict = judge_rate(
        check=DEP_01.check,
        source=SOURCE,
        failures=failed,
        n=healed + failed,
        threshold=run.plan.unhealed_threshold,
        subject=HEALS,
    )
    figures = {
        "cycles": during.cycles - before.cycles,
        "healed": healed,
        "failed": failed,
        "claim": f"unhealed share < {run.plan.unhealed_threshold:g} (upper 95 % Wilson)",
    }
    return dataclasses.replace(verdict, details={**verdict.details, **_details(run, **figures)})


def _rate(first: RunSample, last: RunSample) -> float | None:
    """Cycles per second between two samples."""
    span = last.t_s - first.t_s
    return (last.cycles - first.cycles) / span if span > 0 else None


def _goes_on(run: DependencyRun, before: RunSample, during: RunSample) -> Verdict:
    baseline = [s for s in run.samples if s.phase == "baseline"]
    window = [s for s in run.samples if s.phase == "fault"]
    healthy_rate = _rate(baseline[0], before)
    fault_rate = _rate(before, during)
    violations = [
        f"the run was {s.state} at {s.t_s:.2f} s, during the fault"
        for s in window
        if s.state not in GOING
    ][:1]
    if during.interventions > before.interventions:
        violations.append(f"{during.interventions - before.interventions} manual intervention(s)")
    succeeded = during.succeeded - before.succeeded
    floor = max(1.0, run.plan.progress_floor * (healthy_rate or 0.0) * run.plan.fault_s)
    if succeeded < floor:
        violations.append(
            f"{succeeded} cycles succeeded while A4 failed, fewer than {floor:.0f}"
            f" ({run.plan.progress_floor:g} of the healthy rate)"
        )
    verdict = _rule(GOES_ON, violations, len(window), run)
    figures = {
        "healthy_cycles_per_s": healthy_rate,
        "fault_cycles_per_s": fault_rate,
        "succeeded_during_fault": succeeded,
    }
    return dataclasses.replace(verdict, details={**verdict.details, **figures})


def _healthy(run: DependencyRun, during: RunSample, after: RunSample) -> Verdict:
    succeeded = after.succeeded - during.succeeded
    failed = after.failed - during.failed
    violations: list[str] = []
    if succeeded < run.plan.min_cycles_after:
        violations.append(
            f"{succeeded} cycles succeeded in the {run.plan.recovery_s:g} s after A4 recovered,"
            f" fewer than {run.plan.min_cycles_after}"
        )
    if failed:
        violations.append(f"{failed} cycles failed after A4 recovered")
    if after.state not in GOING:
        violations.append(f"the run is {after.state} after A4 recovered")
    if run.ready_status != 200:
        violations.append(f"A3 /ready answered {run.ready_status or 'nothing'}, not 200")
    verdict = _rule(HEALTHY, violations, succeeded + failed, run)
    figures = {"succeeded_after": succeeded, "failed_after": failed, "ready": run.ready_status}
    return dataclasses.replace(verdict, details={**verdict.details, **figures})
