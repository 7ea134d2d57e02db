"""A check's entry in a phase report's ``checks`` list (``CheckRecord.summary``): the same
in the baseline and the B2B reports."""

from __future__ import annotations

from pathlib import Path

from secondconf.engine.results import CheckRecord, ResultsModel
from secondconf.reports.b2b_funnel import b2b_results
from secondconf.reports.baseline import baseline_results

from tests.plugin.pytester_helpers import settings_under

SKIPPED = CheckRecord(
    "suites/x.py::t",
    {"tags": ["load"], "phase": 2},
    outcome="skipped",
    skip_reason="HITL gate 'load_over_60_vus' not approved",
)


def test_a_skipped_check_says_so_and_why_it_does_not_pass() -> None:
    assert SKIPPED.summary() == {
        "nodeid": "suites/x.py::t",
        "pytest_outcome": "skipped",
        "gate_passed": False,
        "skip_reason": "HITL gate 'load_over_60_vus' not approved",
        "failure": None,
        "not_passing": ["not run (skipped: HITL gate 'load_over_60_vus' not approved)"],
    }


def test_the_baseline_and_b2b_reports_list_their_checks_by_it(tmp_path: Path) -> None:
    settings = settings_under(tmp_path)
    phase_3 = CheckRecord(
        "suites/y.py::t",
        {"tags": ["funnel_b2b"], "phase": 3},
        outcome="failed",
        failure="boom",
    )
    model = ResultsModel(checks={r.nodeid: r for r in (SKIPPED, phase_3)})

    assert baseline_results(model, settings)["checks"] == [SKIPPED.summary()]
    assert b2b_results(model, settings)["checks"] == [phase_3.summary()]
