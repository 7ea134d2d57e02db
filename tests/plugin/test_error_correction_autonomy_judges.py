"""The ERR and AUT judges on hand-built observations, and their report writer.

Each judge passes on what a correct target shows and fails on what its fault shows, with
the other judges unmoved; the writer turns the verdicts into the report and the evidence.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from secondconf.checks.autonomy.judge import judge_autonomy
from secondconf.checks.autonomy.model import AutonomyPlan, AutonomyRun, Step
from secondconf.checks.error_correction.judge import judge_error_correction
from secondconf.checks.error_correction.model import (
    ErrorCorrectionRun,
    HealRun,
    RetrySample,
    Transition,
)
from secondconf.engine.results import CheckRecord, ResultsModel
from secondconf.engine.verdict import Outcome, Verdict
from secondconf.reports.error_correction import EVIDENCE, REPORT, write_error_correction_report

from tests.plugin.pytester_helpers import settings_under

BASE_MS, CAP_MS, CALLS = 10.0, 50.0, 40


def retries(*, jitter: bool = True, cap: bool = True, seed: int = 7) -> list[RetrySample]:
    """What A5 reports for CALLS calls of 5 retries each under the reference's policy."""
    rng = random.Random(seed)
    found = []
    for call in range(CALLS):
        for attempt in range(1, 6):
            ceiling = BASE_MS * 2 ** (attempt - 1)
            ceiling = min(CAP_MS, ceiling) if cap else ceiling
            delay = rng.uniform(0, ceiling) if jitter else ceiling
            found.append(RetrySample(f"t{call}", attempt, round(delay, 3), BASE_MS, CAP_MS))
    return found


def flat_backoff() -> list[RetrySample]:
    """A backoff that never grows: every retry waits U(0, base)."""
    rng = random.Random(3)
    return [
        RetrySample(f"t{call}", attempt, round(rng.uniform(0, BASE_MS), 3), BASE_MS, CAP_MS)
        for call in range(CALLS)
        for attempt in range(1, 6)
    ]


def transition(trace: str, event: str, source: str, to: str, second: int) -> Transition:
    at = f"2026-01-01T00:00:{second:02d}Z"
    return Transition(trace, event, "A4", source, to, at, at)


BREAKER = [
    transition("t3", "circuit_opened", "closed", "open", 1),
    transition("probe", "circuit_half_opened", "open", "half-open", 8),
    transition("probe", "circuit_closed", "half-open", "closed", 9),
]
HEALED = HealRun(
    "run_1",
    "heal",
    2,
    {"state": "completed", "cycles_completed": 2, "heals": 2, "escalations": 0},
    {"cycle_auto_healed": 2, "orchestration_cycle_complete": 2},
)


def error_run(**changes: Any) -> ErrorCorrectionRun:
    run = ErrorCorrectionRun(
        started_at="2026-01-01T00:00:00Z",
        calls=CALLS,
        refused={"trace_id": "refused", "status": 503, "retry_after_s": 5.0, "retries": 0},
        probe={"trace_id": "probe", "status": 201, "clock_moved_s": 6.0},
        retries=retries(),
        transitions=list(BREAKER),
        heal=HEALED,
    )
    for name, value in changes.items():
        setattr(run, name, value)
    return run


def failing(verdicts: list[Verdict]) -> set[str]:
    return {str(v.details["rule"]) for v in verdicts if v.outcome is not Outcome.PASS}


def test_a_correct_target_passes_every_error_rule() -> None:
    verdicts = judge_error_correction(error_run())
    assert failing(verdicts) == set()
    assert verdicts[0].details["ks"]["n"] == 3 * CALLS  # retries 1-3 are below the cap


@pytest.mark.parametrize(
    ("changes", "caught"),
    [
        ({"retries": retries(jitter=False)}, {"ERR-01"}),
        ({"retries": retries(cap=False)}, {"ERR-02"}),
        ({"retries": flat_backoff()}, {"ERR-01", "ERR-02"}),
        ({"transitions": [], "refused": {"status": 502, "retries": 5}}, {"ERR-03"}),
        ({"transitions": BREAKER[:2]}, {"ERR-03"}),
        (
            {"heal": HealRun("r", "t", 2, {"state": "failed", "heals": 0}, {"cycle_failed": 1})},
            {"ERR-04"},
        ),
    ],
    ids=["no jitter", "no cap", "no growth", "never opens", "never closes", "no heal"],
)
def test_each_fault_fails_its_error_rule(changes: dict[str, Any], caught: set[str]) -> None:
    assert failing(judge_error_correction(error_run(**changes))) == caught


def test_retries_without_their_policy_are_not_counted_as_passed() -> None:
    verdicts = judge_error_correction(error_run(retries=retries()[:20]))
    assert verdicts[0].outcome is Outcome.INCONCLUSIVE
    assert "the KS test needs 30" in " ".join(verdicts[0].details["untested"])


START = datetime(2026, 1, 1, tzinfo=UTC)
PLAN = AutonomyPlan.gate()


def iso(moment: datetime) -> str:
    return moment.isoformat()


def autonomy_run(*, stalled: bool = False) -> AutonomyRun:
    """What the scenario sees of a healthy 22-cycle run moved 10 minutes per step."""
    steps, events = [Step(0, iso(START), 0.0, 1, "running")], []
    cycles = 1 if stalled else PLAN.cycles
    for cycle in range(1, cycles + 1):
        stamped = START + timedelta(seconds=(cycle - 1) * 600 + 0.1)
        real = stamped - timedelta(seconds=(cycle - 1) * 600)
        for name, data in (
            ("run_progress", {"cycle": cycle, "percent": 50.0}),
            ("orchestration_cycle_complete", {"cycle": cycle}),
        ):
            received = real + timedelta(seconds=0.2)
            events.append(
                {
                    "event": name,
                    "timestamp": iso(stamped),
                    "received_at": iso(received),
                    "data": data,
                }
            )
        if cycle > 1:
            steps.append(
                Step(
                    cycle - 1,
                    iso(real - timedelta(seconds=0.05)),
                    (cycle - 1) * 600.0,
                    cycle,
                    "running",
                )
            )
    end = START + timedelta(minutes=130 if stalled else 210)
    record = {
        "state": "stalled" if stalled else "completed",
        "cycles_completed": cycles,
        "manual_interventions": 0,
        "autonomous_minutes": 130.0 if stalled else 210.0,
        "stall_limit_s": 7200.0,
        "started_at": iso(START),
        "ended_at": iso(end),
        "last_progress_at": iso(START),
    }
    if stalled:
        events.append(
            {"event": "run_stalled", "timestamp": iso(end), "received_at": iso(end), "data": {}}
        )
    return AutonomyRun(
        plan=PLAN.__dict__,
        virtual=True,
        started_at=iso(START),
        run_id="run_1",
        steps=steps,
        record=record,
        record_after_end={**record},
        events=events,
        reset={
            "before": {"minutes": 30.0, "expected": 30.01},
            "after": {"minutes": 0.0, "expected": 0.0, "manual_interventions": 1},
            "later": {"minutes": 30.0, "expected": 30.02},
        },
        growth={"page_published": {"latency_s": 0.3}, "cta_emitted": {"latency_s": 0.2}},
    )


def test_a_healthy_run_passes_every_autonomy_rule() -> None:
    verdicts = judge_autonomy(autonomy_run(), 60.0)
    assert failing(verdicts) == set(), [v.details["violations"] for v in verdicts]
    assert verdicts[1].details["max_latency_s"] == pytest.approx(0.2, abs=0.01)


def test_a_stalled_run_fails_aut03_and_leaves_aut01_unshown() -> None:
    outcomes = {
        str(v.details["rule"]): v.outcome for v in judge_autonomy(autonomy_run(stalled=True), 60.0)
    }
    assert outcomes["AUT-03"] is Outcome.FAIL
    assert outcomes["AUT-01"] is Outcome.INCONCLUSIVE
    assert outcomes["AUT-05"] is Outcome.PASS


@pytest.mark.parametrize(
    ("stalled", "why"),
    [
        (True, "the run stalled after 130.0 minutes of its clock (AUT-03)"),
        (False, "A3 gave no record of the run"),
    ],
)
def test_aut01_is_untested_on_a_stalled_run_or_without_a_record(stalled: bool, why: str) -> None:
    run = autonomy_run(stalled=stalled)
    if not stalled:
        run.record = {}
    [aut01] = [v for v in judge_autonomy(run, 60.0) if v.details["rule"] == "AUT-01"]
    assert aut01.outcome is Outcome.INCONCLUSIVE
    assert why in aut01.details["untested"]


def test_minutes_that_go_on_after_the_end_fail_aut01() -> None:
    run = autonomy_run()
    run.record_after_end = {**run.record, "autonomous_minutes": 220.0}
    assert failing(judge_autonomy(run, 60.0)) == {"AUT-01"}


def test_an_event_later_than_the_deadline_fails_aut02() -> None:
    run = autonomy_run()
    run.events[-1]["received_at"] = iso(
        datetime.fromisoformat(run.events[-1]["received_at"]) + timedelta(seconds=61)
    )
    assert failing(judge_autonomy(run, 60.0)) == {"AUT-02"}


def test_an_intervention_that_does_not_reset_fails_aut05() -> None:
    run = autonomy_run()
    run.reset["after"]["minutes"] = 30.0
    assert failing(judge_autonomy(run, 60.0)) == {"AUT-05"}


def model_of(verdicts: list[Verdict]) -> ResultsModel:
    model = ResultsModel()
    model.checks["suites/x.py::test"] = CheckRecord(
        "suites/x.py::test", {}, verdicts=verdicts, duration_s=5.0
    )
    return model


def test_the_report_and_the_evidence_carry_the_verdicts_figures(tmp_path: Path) -> None:
    settings = settings_under(tmp_path)
    verdicts = judge_error_correction(error_run()) + judge_autonomy(autonomy_run(), 60.0)
    write_error_correction_report(model_of(verdicts), settings)
    report = (settings.reports_dir / REPORT).read_text()
    ks = verdicts[0].details["ks"]
    assert f"D = {ks['statistic']:.3g}" in report
    assert "closed -> open -> half-open -> closed" in report
    assert "| ERR-03 | `breaker_opens` off" in report
    evidence = json.loads((settings.evidence_dir / EVIDENCE).read_text())
    assert len(evidence["a8_events_per_cycle"]) == PLAN.cycles
    assert evidence["a3_run_record"]["autonomous_minutes"] == 210.0


def test_no_verdict_no_report(tmp_path: Path) -> None:
    settings = settings_under(tmp_path)
    write_error_correction_report(ResultsModel(), settings)
    assert not (settings.reports_dir / REPORT).exists()


def test_a_scenario_that_could_not_start_is_reported_as_such(tmp_path: Path) -> None:
    settings = settings_under(tmp_path)
    empty = AutonomyRun(PLAN.__dict__, True, iso(START), untested=["no clock control"])
    verdicts = judge_error_correction(
        ErrorCorrectionRun(started_at=iso(START), untested=["no fault control"])
    ) + judge_autonomy(empty, 60.0)
    assert {v.outcome for v in verdicts} == {Outcome.INCONCLUSIVE}
    write_error_correction_report(model_of(verdicts), settings)
    assert "no fault control" in (settings.reports_dir / REPORT).read_text()


@pytest.mark.parametrize(
    ("value", "message"),
    [("0", "*--autonomy-soak: '0' must be longer than zero*"), ("soon", "*'soon' is not a *")],
)
def test_a_bad_soak_length_is_one_usage_error_line(
    pytester: pytest.Pytester, value: str, message: str
) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("-p", "no:xdist", "--autonomy-soak", value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert "Traceback" not in result.stderr.str()


def test_the_soak_length_reaches_the_settings_and_its_plan(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_show(pytestconfig):
            from secondconf.checks.autonomy.model import AutonomyPlan
            from secondconf.pytest_plugin.state import SETTINGS_KEY
            soak = pytestconfig.stash[SETTINGS_KEY].autonomy_soak_s
            plan = AutonomyPlan.soak(soak)
            print("SOAK", soak, plan.cycle_interval_s, plan.cycles, plan.run_minutes)
        """
    )
    result = pytester.runpytest("-s", "-p", "no:xdist", "--autonomy-soak", "200m")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*SOAK 12000.0 600.0 22 210.0*"])
