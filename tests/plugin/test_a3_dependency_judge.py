"""DEP-01's judge: A3's cycles heal while A4 fails, its run goes on, and it is healthy
once A4 is back; each verdict FAILs on the run that breaks its claim."""

from __future__ import annotations

import dataclasses

from secondconf.checks.resiliency.a3_judge import (
    GOES_ON,
    HEALS,
    HEALTHY,
    judge_a3_under_a4,
)
from secondconf.checks.resiliency.a3_under_a4 import DependencyPlan, DependencyRun, RunSample
from secondconf.engine.verdict import Outcome, Reason, Verdict

PLAN = DependencyPlan()


def sample(
    t_s: float,
    phase: str,
    succeeded: int,
    *,
    failed: int = 0,
    heals: int = 0,
    state: str = "running",
    interventions: int = 0,
) -> RunSample:
    return RunSample(t_s, phase, state, succeeded, failed, heals, interventions)


def a_run(*fault: RunSample, after: RunSample | None = None, ready: int = 200) -> DependencyRun:
    """A baseline of 15 cycles in 3 s, then ``fault`` samples, then ``after``."""
    last_fault = fault[-1]
    recovery = after or sample(
        22.0,
        "recovery",
        last_fault.succeeded + 20,
        failed=last_fault.failed,
        heals=last_fault.heals,
    )
    return DependencyRun(
        plan=PLAN,
        run_ids=("run_1", "run_2", "run_3"),
        samples=(sample(0.0, "baseline", 0), sample(3.0, "baseline", 15), *fault, recovery),
        fault_at_s=3.0,
        recovered_at_s=18.0,
        ready_status=ready,
        wall_s=22.5,
    )


HEALED = sample(18.0, "fault", 55, heals=20)


def by_subject(run: DependencyRun) -> dict[str, Verdict]:
    verdicts = judge_a3_under_a4(run)
    assert all(v.details["rule"] == "DEP-01" for v in verdicts)
    return {str(v.subject): v for v in verdicts}


def test_a_run_whose_cycles_heal_passes_all_three() -> None:
    verdicts = by_subject(a_run(sample(10.0, "fault", 30, heals=10), HEALED))
    assert {s: v.outcome for s, v in verdicts.items()} == {
        HEALS: Outcome.PASS,
        GOES_ON: Outcome.PASS,
        HEALTHY: Outcome.PASS,
    }
    heals = verdicts[HEALS]
    assert (heals.n, heals.k, heals.threshold) == (20, 0, 0.2)
    assert heals.upper is not None
    assert heals.upper < 0.2
    assert heals.details["healed"] == 20
    assert verdicts[GOES_ON].details["healthy_cycles_per_s"] == 5.0


def test_cycles_that_fail_instead_of_healing_fail_the_heal_verdict() -> None:
    """What the reference's cycle_auto_heal switch off does: the first failure is final."""
    unhealed = sample(18.0, "fault", 40, failed=20)
    verdicts = by_subject(a_run(unhealed))
    heals = verdicts[HEALS]
    assert (heals.outcome, heals.reason) == (Outcome.FAIL, Reason.BOUND_EXCEEDS)
    assert (heals.n, heals.k) == (20, 20)
    assert verdicts[GOES_ON].outcome is Outcome.PASS  # it went on, but did not heal


def test_too_few_failure_hit_cycles_is_inconclusive_never_a_pass() -> None:
    verdict = by_subject(a_run(sample(18.0, "fault", 40, heals=4)))[HEALS]
    assert (verdict.outcome, verdict.reason) == (Outcome.INCONCLUSIVE, Reason.N_BELOW_MIN)


def test_a_run_that_fails_or_needs_a_human_does_not_go_on() -> None:
    failed = by_subject(a_run(sample(8.0, "fault", 20, heals=3, state="failed"), HEALED))
    assert failed[GOES_ON].outcome is Outcome.FAIL
    assert "the run was failed at 8.00 s" in failed[GOES_ON].details["violations"][0]
    helped = by_subject(a_run(dataclasses.replace(HEALED, interventions=1)))
    assert helped[GOES_ON].details["violations"] == ["1 manual intervention(s)"]


def test_a_run_that_stops_progressing_while_a4_fails_does_not_go_on() -> None:
    stuck = sample(18.0, "fault", 16, heals=1)
    verdict = by_subject(a_run(stuck))[GOES_ON]
    assert verdict.outcome is Outcome.FAIL
    assert verdict.details["violations"] == [
        "1 cycles succeeded while A4 failed, fewer than 19 (0.25 of the healthy rate)"
    ]


def test_failures_after_a4_recovered_or_a3_not_ready_are_not_healthy() -> None:
    after = sample(22.0, "recovery", 56, failed=2, heals=20)
    verdict = by_subject(a_run(HEALED, after=after, ready=503))[HEALTHY]
    assert verdict.outcome is Outcome.FAIL
    assert verdict.details["violations"] == [
        "1 cycles succeeded in the 4 s after A4 recovered, fewer than 3",
        "2 cycles failed after A4 recovered",
        "A3 /ready answered 503, not 200",
    ]


def test_a_cycle_that_fails_just_after_the_rollback_is_the_faults() -> None:
    """Settle: a cycle in flight when A4 recovered counts in the fault window."""
    in_flight = sample(18.6, "recovery", 40, failed=20)
    run = a_run(sample(17.5, "fault", 40, failed=19), in_flight)
    verdicts = by_subject(run)
    assert (verdicts[HEALS].n, verdicts[HEALS].k) == (20, 20)
    assert verdicts[HEALTHY].outcome is Outcome.PASS, verdicts[HEALTHY].details["violations"]


def test_no_run_to_watch_fails_every_verdict_with_the_reason() -> None:
    run = DependencyRun(PLAN, problem="A3 POST /v1/runs: answered 503, no run started")
    verdicts = judge_a3_under_a4(run)
    assert [v.outcome for v in verdicts] == [Outcome.FAIL] * 3
    assert all(v.details["violations"] == [run.problem] for v in verdicts)


def test_the_run_survives_the_trip_through_json() -> None:
    run = a_run(HEALED)
    assert DependencyRun.from_dict(run.to_dict()) == run
