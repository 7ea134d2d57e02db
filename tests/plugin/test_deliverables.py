"""Every seed deliverable exists after a gate run: written by its checks, or saying which
of its checks did not run and why."""

from __future__ import annotations

import json

import pytest
from secondconf.engine.results import CheckRecord, ResultsModel
from secondconf.reports.deliverables import DELIVERABLES, INDEX, Deliverable, why_not_run

ONE_CHECK = """
import pytest

@pytest.mark.second_confirmation
@pytest.mark.phase(0)
def test_inventory_like():
    pass
"""

LEARNING = Deliverable("rl_signal_path.md", "signal path", ("learning",))


def _record(outcome: str, **kwargs: object) -> CheckRecord:
    marks = {"phase": 6, "app": None, "hitl_gate": None, "tags": ("learning",)}
    return CheckRecord("suites/test_learning.py::t", marks, outcome=outcome, **kwargs)  # type: ignore[arg-type]


def test_the_reason_names_each_check_that_did_not_run() -> None:
    skipped = _record("skipped", skip_reason="HITL gate 'inject_503': no valid approval")
    failed = _record("failed", failure="Stripe server unreachable\nmore")
    assert why_not_run(ResultsModel(checks={"a": skipped}), LEARNING) == [
        "suites/test_learning.py::t: skipped: HITL gate 'inject_503': no valid approval"
    ]
    assert why_not_run(ResultsModel(checks={"a": failed}), LEARNING) == [
        "suites/test_learning.py::t: failed before measuring: Stripe server unreachable"
    ]
    assert why_not_run(ResultsModel(), LEARNING) == [
        "no check marked `learning` was selected in this run (-m (none))"
    ]


def test_a_gate_run_leaves_every_deliverable_and_an_index(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(ONE_CHECK)
    pytester.runpytest("-p", "no:xdist", "-m", "second_confirmation").assert_outcomes(passed=1)
    reports = pytester.path / "tests" / "perf" / "reports"
    index = (reports / INDEX).read_text()
    for deliverable in DELIVERABLES:
        assert f"| {deliverable.title} |" in index
        if deliverable.name == "hitl_approvals.log":
            continue  # the log belongs to no run: listed, never written here
        path = reports / deliverable.name
        assert path.stat().st_size > 0, deliverable.name
    matrix = (reports / "ecosystem_slo_matrix.md").read_text()
    assert matrix.startswith("# Ecosystem SLO matrix (phase 1): NOT RUN")
    assert "no check marked `liveness` was selected in this run (-m second_confirmation)" in matrix
    b2c = json.loads((reports / "b2c_funnel_results.json").read_text())
    assert b2c["status"] == "NOT RUN"
    assert b2c["gate_passed"] is False
    manifest = json.loads((reports / "secondconf_results.json").read_text())["outputs"]
    assert str(reports / INDEX) in manifest  # listed as this run's output


def test_every_phase_writer_runs_before_the_deliverables_are_filled_in() -> None:
    # write_b2c_reports once ran after write_deliverables: the gate then listed the B2C
    # results and the auth trace log as NOT RUN although its checks had written them.
    from secondconf.reports.deliverables import write_deliverables
    from secondconf.reports.funnels import write_b2c_reports
    from secondconf.reports.run_results import write_run_results
    from secondconf.reports.writers import PHASE_WRITERS, WRITERS

    assert (*PHASE_WRITERS, write_deliverables, write_run_results) == WRITERS
    assert write_b2c_reports in PHASE_WRITERS
