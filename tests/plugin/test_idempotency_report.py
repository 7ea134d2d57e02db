"""``idempotency_validation.md`` from a hand-built results model."""

from __future__ import annotations

from pathlib import Path

from secondconf.contract.catalog import rule_by_id
from secondconf.engine.evidence import RequestRecord
from secondconf.engine.results import CheckRecord, ResultsModel
from secondconf.engine.rules import rule_verdict
from secondconf.reports.idempotency import (
    HARDENING_ROUTES_SECTION,
    IDEMPOTENCY_REPORT,
    write_idempotency_report,
)

from tests.plugin.test_inventory_report import settings

RULE = rule_by_id("IDEM-09")
MARKS = {"phase": 3, "app": None, "hitl_gate": None, "tags": ["second_confirmation", "idempotency"]}
REQUEST = {
    "app": "A2",
    "method": "POST",
    "path": "/v1/checkout",
    "sent": "new trace id",
    "status": 201,
    "result": "a second charge",
}


A8_READ = RequestRecord("A8", "GET", "/v1/events", "since/until", 200, note="1200 events")


def model() -> ResultsModel:
    failed = CheckRecord(
        "suites/test_idempotency.py::test_contract_rule[IDEM-09]", MARKS, outcome="failed"
    )
    failed.verdicts.append(
        rule_verdict(
            RULE,
            "A2",
            cases=1,
            violations=["A2 POST /v1/checkout: a second charge"],
            details={
                "requests": [REQUEST, A8_READ.to_dict()],
                "routes": {"A2 POST /v1/checkout": "violated"},
            },
        )
    )
    skipped = CheckRecord(
        "suites/test_oidc.py::test_rotation",
        {**MARKS, "hitl_gate": "x"},
        outcome="skipped",
        deliberate_skip=True,
        skip_reason="HITL gate 'secret_rotation' not approved",
    )
    other = CheckRecord(
        "suites/test_liveness.py::test_liveness[A1]", {**MARKS, "tags": ["liveness"]}
    )
    results = ResultsModel()
    results.checks = {c.nodeid: c for c in (failed, skipped, other)}
    results.run_info[HARDENING_ROUTES_SECTION] = {
        "A2": {
            "covered": ["A2 POST /v1/checkout"],
            "exempt": [{"route": "A2 POST /v1/stripe/webhook", "reason": "protocol"}],
            "untested": [{"route": "A2 POST /v1/refund", "reason": "no JSON request example"}],
        }
    }
    return results


def test_the_report_lists_routes_verdicts_and_requests(tmp_path: Path) -> None:
    write_idempotency_report(model(), settings(tmp_path))
    text = (tmp_path / "reports" / IDEMPOTENCY_REPORT).read_text()
    assert "1 check(s) ran, 1 verdict(s): 0 PASS, 1 FAIL, 0 INCONCLUSIVE; 1 not run" in text
    assert "| A2 | `A2 POST /v1/refund` | **not tested** | no JSON request example |" in text
    assert "| A2 | `A2 POST /v1/stripe/webhook` | exempt | protocol |" in text
    assert "A2 POST /v1/checkout: a second charge" in text
    assert "### IDEM-09 same key with a new trace id is a replay: A2 (FAIL)" in text
    assert "| A2 | `POST /v1/checkout` | new trace id | 201 | a second charge |" in text
    assert "| A8 | `GET /v1/events` | since/until | 200 | ok (1200 events) |" in text
    assert "**NOT RUN (deliberate)**" in text
    assert "HITL gate 'secret_rotation' not approved" in text
    assert "test_liveness" not in text


def test_nothing_is_written_without_an_idempotency_check(tmp_path: Path) -> None:
    results = model()
    results.checks = {k: v for k, v in results.checks.items() if "liveness" in k}
    write_idempotency_report(results, settings(tmp_path))
    assert not (tmp_path / "reports" / IDEMPOTENCY_REPORT).exists()
