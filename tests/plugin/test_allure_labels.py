"""record_verdict writes each check's Allure labels, one step per verdict and its evidence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from secondconf.pytest_plugin.allure_labels import subject_apps

CHECKS = """
import pytest
from secondconf.contract.catalog import rule_by_id
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Outcome, Reason, Verdict

@pytest.mark.rules("OIDC-36")
@pytest.mark.second_confirmation
@pytest.mark.idempotency
@pytest.mark.phase(3)
def test_forged_tokens(record_verdict):
    record_verdict(rule_verdict(rule_by_id("OIDC-36"), "A1..A7", cases=7, violations=[]))

@pytest.mark.rules("IDEM-07")
@pytest.mark.second_confirmation
@pytest.mark.idempotency
@pytest.mark.phase(3)
def test_replay(record_verdict):
    for app in ("A2", "A5"):
        violations = ["POST /v1/x: replay executed again"] if app == "A5" else []
        record_verdict(rule_verdict(rule_by_id("IDEM-07"), app, cases=1, violations=violations))

@pytest.mark.second_confirmation
@pytest.mark.phase(0)
@pytest.mark.app("A3")
def test_inventory(record_verdict):
    record_verdict(Verdict(check="ready", source="probe", outcome=Outcome.PASS,
                           reason=Reason.CHECK_PASSED, threshold=0.0, estimate=0.0, lower=None,
                           upper=None, method="exhaustive", alpha=0.0, n=1, k=0, subject="A3"))
"""


def _results(allure_dir: Path) -> dict[str, dict[str, Any]]:
    results = [json.loads(p.read_text()) for p in allure_dir.glob("*-result.json")]
    return {r["name"]: r for r in results}


def _labels(result: dict[str, Any], name: str) -> list[str]:
    return sorted(label["value"] for label in result["labels"] if label["name"] == name)


def test_labels_come_from_the_marks_and_every_verdicts_subject_and_rule(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(CHECKS)
    result = pytester.runpytest("-p", "no:xdist", "--alluredir=allure")
    result.assert_outcomes(passed=2, failed=1)
    results = _results(pytester.path / "allure")
    forged = results["test_forged_tokens"]
    assert _labels(forged, "app") == ["A1", "A2", "A3", "A4", "A5", "A6", "A7"]
    assert _labels(forged, "rule") == ["OIDC-36"]
    assert _labels(forged, "phase") == ["3"]
    replay = results["test_replay"]
    assert _labels(replay, "app") == ["A2", "A5"]
    assert _labels(replay, "rule") == ["IDEM-07"]  # once, for two verdicts
    inventory = results["test_inventory"]
    assert _labels(inventory, "app") == ["A3"]
    assert _labels(inventory, "phase") == ["0"]
    assert _labels(inventory, "rule") == []


def test_one_step_per_verdict_with_its_figures_and_its_evidence_attached(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(CHECKS)
    pytester.runpytest("-p", "no:xdist", "--alluredir=allure")
    allure_dir = pytester.path / "allure"
    steps = _results(allure_dir)["test_replay"]["steps"]
    assert [s["name"].split(" [")[0] for s in steps] == [
        "A2 IDEM-07 replay: same answer, Idempotent-Replayed, one effect",
        "A5 IDEM-07 replay: same answer, Idempotent-Replayed, one effect",
    ]
    assert "FAIL (CHECK_FAILED): estimate=1 " in steps[1]["name"]
    assert steps[1]["name"].endswith("n=1 k=1")
    (attachment,) = steps[1]["attachments"]
    assert attachment["name"] == "A5 IDEM-07 evidence"
    evidence = json.loads((allure_dir / attachment["source"]).read_text())
    assert evidence["details"]["violations"] == ["POST /v1/x: replay executed again"]
    assert evidence["outcome"] == "FAIL"


def test_without_alluredir_nothing_is_written_and_the_checks_still_run(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(CHECKS)
    result = pytester.runpytest("-p", "no:xdist")
    result.assert_outcomes(passed=2, failed=1)
    assert not list(pytester.path.rglob("*-result.json"))


@pytest.mark.parametrize(
    ("subject", "apps"),
    [
        ("A3", ("A3",)),
        ("A1..A7", ("A1", "A2", "A3", "A4", "A5", "A6", "A7")),
        ("A1 /health", ("A1",)),
        ("A2: no OpenAPI document", ("A2",)),
        ("all apps", ()),
        ("outputs", ()),
        ("A9", ()),
        (None, ()),
    ],
)
def test_the_apps_a_subject_names(subject: str | None, apps: tuple[str, ...]) -> None:
    assert subject_apps(subject) == apps
