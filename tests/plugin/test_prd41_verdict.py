"""PRD-41's verdict: the outputs present when the check runs, fresh folders included."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from secondconf.checks.safety.outputs import outputs_verdict
from secondconf.checks.safety.secrets_scan import scan_for_secrets
from secondconf.engine.verdict import Outcome, Reason

from tests.plugin.pytester_helpers import read_results

SECRET = "sk_test_" + "Fr3sh" * 6
SUITE = Path(__file__).parents[2] / "suites" / "test_production_safety.py"


def test_fresh_empty_folders_pass_with_no_file_stated(tmp_path: Path) -> None:
    folders = [tmp_path / "evidence", tmp_path / "reports"]
    verdict = outputs_verdict(scan_for_secrets(folders, {"STRIPE_SECRET_KEY": SECRET}), folders)
    assert (verdict.outcome, verdict.reason) == (Outcome.PASS, Reason.CHECK_PASSED)
    assert (verdict.n, verdict.k) == (0, 0)
    assert verdict.details["files_scanned"] == 0
    assert "final scan at session end" in verdict.details["scope"]


def test_clean_files_pass_with_their_count(tmp_path: Path) -> None:
    (tmp_path / "report.md").write_text("STRIPE_SECRET_KEY is named, never shown\n")
    verdict = outputs_verdict(scan_for_secrets([tmp_path], {"STRIPE_SECRET_KEY": SECRET}), [])
    assert (verdict.outcome, verdict.n) == (Outcome.PASS, 1)


def test_a_leak_fails_naming_the_file_and_the_secret(tmp_path: Path) -> None:
    (tmp_path / "debug.txt").write_text(f"Authorization: {SECRET}\n")
    verdict = outputs_verdict(scan_for_secrets([tmp_path], {"STRIPE_SECRET_KEY": SECRET}), [])
    assert (verdict.outcome, verdict.reason, verdict.k) == (Outcome.FAIL, Reason.CHECK_FAILED, 1)
    assert verdict.details["violations"] == [
        f"{tmp_path / 'debug.txt'}:1 (byte 15): STRIPE_SECRET_KEY (raw)"
    ]
    assert SECRET not in repr(verdict)


def test_nothing_to_search_for_is_inconclusive(tmp_path: Path) -> None:
    (tmp_path / "report.md").write_text("text\n")
    verdict = outputs_verdict(scan_for_secrets([tmp_path], {"SHORT": "qa-key"}), [])
    assert (verdict.outcome, verdict.reason) == (Outcome.INCONCLUSIVE, Reason.NO_DATA)
    assert verdict.details["untested"] == ["SHORT: not searched (shorter than 8 characters)"]


def test_unreadable_secret_values_are_inconclusive(tmp_path: Path) -> None:
    scan = scan_for_secrets([tmp_path], {"STRIPE_SECRET_KEY": SECRET})
    scan.problems.append("cannot read the embedded target's secrets.env (Permission denied)")
    verdict = outputs_verdict(scan, [])
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert verdict.details["untested"][-1].startswith("cannot read the embedded target's")


def test_the_check_passes_with_fresh_report_and_evidence_folders(
    pytester: pytest.Pytester, reachable_map: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OIDC_CLIENT_SECRET", SECRET)
    shutil.copy(SUITE, pytester.path / "test_production_safety.py")
    fresh = pytester.path / "fresh"
    result = pytester.runpytest(
        f"--system-map={reachable_map}",
        f"--reports-dir={fresh / 'reports'}",
        f"--evidence-dir={fresh / 'evidence'}",
        "-p",
        "no:xdist",
    )
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
    results = read_results(pytester, fresh / "reports")
    (check,) = [c for c in results["checks"] if c["nodeid"].endswith("test_no_secret_in_outputs")]
    (verdict,) = check["verdicts"]
    assert (verdict["outcome"], verdict["n"], verdict["details"]["files_scanned"]) == ("PASS", 0, 0)
