"""The session's final scan searches every output for PII as it does for secrets (contract
§14): a report that leaks an e-mail address or a card number fails the run, naming the
file and the field but never the value; the loopback URLs and trace ids every report
holds do not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from secondconf.checks.compliance.pii_scan import scan_files, scan_json

LEAKED_EMAIL = "jane.student@school.example"
LEAKED_CARD = "4111111111111111"

CHECK_WRITING_REPORTS = """
import json
from pathlib import Path
from typing import Any

import pytest


@pytest.mark.second_confirmation
def test_writes_a_report():
    reports = Path("reports")  # --reports-dir, relative to where pytest runs
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "notes.md").write_text(
        "target https://127.0.0.1:8101/health, trace 4bf92f3577b34da6a3ce929d0e0e4736\\n"
        + "CONTENT\\n"
    )
    (reports / "data.json").write_text(json.dumps({"user": {"contact": "JSON_VALUE"}}))
"""


def _run(pytester: pytest.Pytester, reachable_map: str, content: str, json_value: str) -> Any:
    check = CHECK_WRITING_REPORTS.replace("CONTENT", content).replace("JSON_VALUE", json_value)
    pytester.makepyfile(test_reports=check)
    return pytester.runpytest_subprocess(
        f"--system-map={pytester.path / reachable_map}",
        "--reports-dir=reports",
        "--evidence-dir=evidence",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
    )


def test_a_pii_leak_in_a_report_fails_the_run_naming_file_and_field(
    pytester: pytest.Pytester, reachable_map: str
) -> None:
    result = _run(pytester, reachable_map, f"card {LEAKED_CARD}", LEAKED_EMAIL)
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    reports = pytester.path / "reports"
    result.stdout.fnmatch_lines(
        [
            "PII LEAK: * finding(s) in the gate's terminal summary and * file(s)",
            f"  {reports / 'data.json'}: user.contact: e-mail address",
            f"  {reports / 'notes.md'}: line 2: card number",
        ]
    )
    terminal = result.stdout.str() + result.stderr.str()
    assert LEAKED_EMAIL not in terminal
    assert LEAKED_CARD not in terminal


def test_loopback_urls_and_trace_ids_are_no_leak(
    pytester: pytest.Pytester, reachable_map: str
) -> None:
    result = _run(pytester, reachable_map, "nothing personal", "test_student_e2e_01")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.stdout.fnmatch_lines(["PII scan clean: the gate's terminal summary and * file(s)"])


def test_a_binary_file_is_listed_as_not_scanned(tmp_path: Path) -> None:
    (tmp_path / "shot.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0" + LEAKED_EMAIL.encode())
    (tmp_path / "log.txt").write_text(f"a\nb {LEAKED_EMAIL}\n")
    scan = scan_files([tmp_path, tmp_path / "absent"])
    assert scan.violations() == [f"{tmp_path / 'log.txt'}: line 2: e-mail address"]
    assert scan.skipped == [f"{tmp_path / 'shot.png'}: not scanned (binary)"]
    assert scan.files_scanned == 1


def test_a_json_finding_names_its_path_and_never_a_key_that_holds_pii() -> None:
    document = {
        "n": 4111111111111111,
        "ratio": 12.5,
        "items": ["plain", f"mail {LEAKED_EMAIL}"],
        LEAKED_EMAIL: {"note": "call +44 20 7946 0123"},
    }
    found = [f.describe() for f in scan_json("report.json", document)]
    assert found == [
        "report.json: n: card number",
        "report.json: items[1]: e-mail address",
        "report.json: <a key holding PII> (key): e-mail address",
        "report.json: <a key holding PII>.note: phone number",
    ]
