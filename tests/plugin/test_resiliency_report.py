"""``a3_resiliency_report.md``: DEP-01's section (A3 under A4's 503s) and the drills'
chart of detection, recovery against its limit, and containment beside it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from secondconf.checks.resiliency.a3_judge import judge_a3_under_a4
from secondconf.checks.resiliency.a3_under_a4 import (
    A3_UNDER_A4_SECTION,
    DependencyPlan,
    DependencyRun,
    RunSample,
)
from secondconf.checks.resiliency.drills import DrillResult
from secondconf.checks.resiliency.run import DRILLS_SECTION, DrillsRun
from secondconf.engine.results import CheckRecord, ResultsModel
from secondconf.reports.drill_chart import _unpassed, drills_chart
from secondconf.reports.resiliency import DRILLS_CHART, REPORT, write_resiliency_report

from tests.plugin.pytester_helpers import settings_under

PNG = b"\x89PNG\r\n\x1a\n"


def dependency_run(healed: int, failed: int) -> DependencyRun:
    samples = (
        RunSample(0.0, "baseline", "running", 0, 0, 0, 0),
        RunSample(3.0, "baseline", "running", 15, 0, 0, 0),
        RunSample(18.0, "fault", "running", 55, failed, healed, 0),
        RunSample(22.0, "recovery", "completed", 75, failed, healed, 0),
    )
    return DependencyRun(DependencyPlan(), ("run_1",), samples, 3.0, 18.5, 200, 22.6)


def model_with(run: DependencyRun | None, drills: DrillsRun | None) -> ResultsModel:
    model = ResultsModel()
    if run is not None:
        verdicts = judge_a3_under_a4(run)
        model.checks["s::DEP-01"] = CheckRecord("s::DEP-01", {}, verdicts=verdicts)
        model.run_info[A3_UNDER_A4_SECTION] = run.to_dict()
    if drills is not None:
        model.run_info[DRILLS_SECTION] = drills.to_dict()
    return model


def drill(rule_id: str, app: str, detection: float | None, recovery: float | None) -> DrillResult:
    containment: list[dict[str, Any]] = [
        {"check": f"{rule_id} containment error_rate", "n": 448, "k": 0, "upper": 0.0085,
         "threshold": 0.01, "outcome": "PASS"},
        {"check": f"{rule_id} containment slow_fraction", "n": 448, "k": 30, "upper": 0.094,
         "threshold": 0.05, "outcome": "FAIL"},
    ]  # fmt: skip
    figures = {
        "detection_s": detection,
        "containment": containment,
        "recovery_s": recovery,
        "recovery_limit_s": 5.0,
    }
    return DrillResult(rule_id, app, "503 on 50% of requests", (), figures)


def test_the_a3_section_states_each_claim_with_its_figures(tmp_path: Path) -> None:
    settings = settings_under(tmp_path)
    write_resiliency_report(model_with(dependency_run(20, 0), None), settings)
    text = (settings.reports_dir / REPORT).read_text()
    assert "## A3 under dependency faults (DEP-01: A4 answering 503)" in text
    assert "Drills: not run in this session." in text
    assert (
        "| A3 heals | PASS (BOUND_CLEARS) | 40 cycles in the fault window; 20 met a failure"
        " and healed, 0 failed for good; unhealed share upper bound 0.161 vs 0.2 |" in text
    )
    assert "| A3 run goes on | PASS (CHECK_PASSED) | 5.00 cycles/s healthy, 2.67 while" in text
    assert "| A3 healthy after A4 | PASS (CHECK_PASSED) | 20 cycles succeeded after" in text
    assert "A3 `/ready` at the end: 200. Wall time: 22.6 s." in text
    assert not (settings.reports_dir / DRILLS_CHART).exists()  # no drills, no chart


def test_a_failing_claim_is_listed_with_its_reason(tmp_path: Path) -> None:
    settings = settings_under(tmp_path)
    write_resiliency_report(model_with(dependency_run(0, 20), None), settings)
    text = (settings.reports_dir / REPORT).read_text()
    assert "| A3 heals | FAIL (BOUND_EXCEEDS) |" in text


def test_no_report_when_neither_the_drills_nor_dep_01_ran(tmp_path: Path) -> None:
    settings = settings_under(tmp_path)
    write_resiliency_report(ResultsModel(), settings)
    assert not (settings.reports_dir / REPORT).exists()


def test_the_drills_chart_is_written_beside_the_report_and_linked(tmp_path: Path) -> None:
    settings = settings_under(tmp_path)
    drills = DrillsRun(
        results=(drill("DRL-01", "A2", 0.52, 0.31), drill("DRL-03", "A4", None, 7.5)),
        wall_s=61.5,
    )
    write_resiliency_report(model_with(None, drills), settings)
    assert (settings.reports_dir / DRILLS_CHART).read_bytes().startswith(PNG)
    text = (settings.reports_dir / REPORT).read_text()
    assert f"]({DRILLS_CHART})" in text
    assert "## A3 under dependency faults (DEP-01: A4 answering 503)\n\nNot run" in text


def test_no_chart_when_no_drill_measured_anything(tmp_path: Path) -> None:
    settings = settings_under(tmp_path)
    unmeasured = DrillResult("DRL-01", "A2", "503", (), {"steady_state": "missed"})
    write_resiliency_report(model_with(None, DrillsRun(results=(unmeasured,))), settings)
    assert not (settings.reports_dir / DRILLS_CHART).exists()
    assert DRILLS_CHART not in (settings.reports_dir / REPORT).read_text()


def test_the_chart_draws_missing_figures_without_failing() -> None:
    empty = DrillResult("DRL-05", "A6", "cold start", (), {})
    assert drills_chart([empty, drill("DRL-02", "A3", 1.0, 9.0)], "t").startswith(PNG)


def test_a_drill_whose_verdicts_are_not_all_pass_is_marked_on_the_chart() -> None:
    passed = judge_a3_under_a4(dependency_run(20, 0))  # any verdicts that PASS
    assert (
        _unpassed(dataclasses.replace(drill("DRL-01", "A2", 0.5, 0.3), verdicts=tuple(passed)))
        == ""
    )
    assert _unpassed(drill("DRL-01", "A2", 0.5, 0.3)) == " (not PASS)"  # no verdict at all
