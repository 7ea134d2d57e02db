"""``compliance.md`` from a hand-built results model: each §14 rule, what it tried, its
outcome, its violations and what it could not exercise."""

from __future__ import annotations

from pathlib import Path

from secondconf.checks.compliance.minimization import check_output_pii
from secondconf.checks.compliance.pii import Canaries
from secondconf.contract.catalog import rule_by_id
from secondconf.engine.results import CheckRecord, ResultsModel
from secondconf.engine.rules import rule_verdict
from secondconf.reports.compliance import COMPLIANCE_REPORT, write_compliance_report
from secondconf.reports.writers import PHASE_WRITERS

from tests.plugin.test_inventory_report import settings

MARKS = {"phase": 3, "app": None, "hitl_gate": None, "tags": ["second_confirmation", "compliance"]}


def model(tmp_path: Path) -> ResultsModel:
    integrity = CheckRecord("suites/test_compliance.py::test_academic_integrity", MARKS)
    integrity.verdicts.append(
        rule_verdict(
            rule_by_id("INT-01"),
            "A4",
            cases=2,
            violations=["A5 spend of graded work (Write my exam answers…): answered 201, not 422"],
            details={"cases": ["A5 spend of graded work", "A4 work on graded work"]},
        )
    )
    pii = CheckRecord("suites/test_compliance.py::test_pii_minimization", MARKS)
    (tmp_path / "evidence").mkdir()
    (tmp_path / "evidence" / "clean.json").write_text('{"trace": "4bf92f3577b34da6"}')
    pii.verdicts.append(check_output_pii([tmp_path / "evidence"], Canaries.new()))
    coppa = CheckRecord(
        "suites/test_compliance.py::test_coppa_age_gate",
        MARKS,
        outcome="skipped",
        skip_reason="prod_observe: not run",
    )
    other = CheckRecord("suites/test_liveness.py::test_liveness[A1]", {**MARKS, "tags": []})
    results = ResultsModel()
    results.checks = {c.nodeid: c for c in (integrity, pii, coppa, other)}
    return results


def test_the_report_names_each_rule_what_it_tried_and_its_outcome(tmp_path: Path) -> None:
    write_compliance_report(model(tmp_path), settings(tmp_path))
    text = (tmp_path / "reports" / COMPLIANCE_REPORT).read_text()
    assert (
        "**Result: 2 rule verdict(s): 1 PASS, 1 FAIL, 0 INCONCLUSIVE; 1 check(s) not run**" in text
    )
    assert "| INT-01 | FAIL | 2 | 1 |" in text
    assert "| PII-02 | PASS | 1 | 0 |" in text
    assert "## INT-01: Graded work to hand in -> 422 academic-integrity" in text
    assert "- A4 work on graded work" in text
    assert "- A5 spend of graded work (Write my exam answers…): answered 201, not 422" in text
    assert "1 file(s) searched for the PII patterns and the run's canaries" in text
    assert "- not run: `suites/test_compliance.py::test_coppa_age_gate`: prod_observe" in text


def test_nothing_is_written_without_a_compliance_check(tmp_path: Path) -> None:
    write_compliance_report(ResultsModel(), settings(tmp_path))
    assert not (tmp_path / "reports" / COMPLIANCE_REPORT).exists()
    assert write_compliance_report in PHASE_WRITERS
