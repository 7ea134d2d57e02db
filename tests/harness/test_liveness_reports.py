"""The phase 1 deliverables, end to end through pytest: the same content with and without
xdist workers, and a failing app makes the session exit non-zero."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.harness.conftest import HarnessTarget
from tests.plugin.conftest import BASE_INI

SUITE = Path(__file__).parents[2] / "suites" / "test_liveness.py"
# A tiny window: verdicts are INCONCLUSIVE (too few samples) but deterministic, which is
# what a comparison of report content between two runs needs.
SHORT_RUN = (
    "--burn-in",
    "1s",
    "--stable-window",
    "8s",
    "--probe-rate",
    "2",
    "--telemetry-deadline",
    "5s",
    "-p",
    "no:cacheprovider",
)
NUMBER = re.compile(r"\d+(\.\d+)?(e-?\d+)?")
OUTCOME = re.compile(r"\*\*[A-Z]+\*\* \([A-Z_]+\)")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+Z")


def run_suite(
    pytester: pytest.Pytester,
    target: HarnessTarget,
    monkeypatch: pytest.MonkeyPatch,
    *args: str,
) -> pytest.RunResult:
    for name, value in target.secrets.items():
        monkeypatch.setenv(name, value)
    # Run as if alone even inside an xdist worker: with the worker's id in its environment
    # the inner run shares its measurement through the worker's temp folder, where an
    # earlier inner run's liveness.json was found and read instead of measuring.
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    pytester.makeini(BASE_INI)
    shutil.copy(SUITE, pytester.path / "test_liveness.py")
    # "--system-map=PATH", one argument: pytest takes a bare path argument into account
    # when it looks for the rootdir and its ini file.
    return pytester.runpytest(f"--system-map={target.eco.system_map_path}", *SHORT_RUN, *args)


def report_shape(root: Path) -> dict[str, object]:
    """The reports with every figure, timestamp and outcome masked (a measurement's result
    varies from run to run): which apps, checks, sources and fields they hold must not
    depend on -n."""
    reports = root / "tests/perf/reports"
    evidence = root / "tests/perf/evidence"
    matrix = (reports / "ecosystem_slo_matrix.md").read_text()
    shape: dict[str, object] = {
        "files": sorted(p.name for p in [*reports.iterdir(), *evidence.iterdir()]),
        "matrix": OUTCOME.sub("V", NUMBER.sub("#", TIMESTAMP.sub("T", matrix))),
    }
    for path in sorted(evidence.glob("*_health.json")):
        data = json.loads(path.read_text())
        shape[path.name] = [(v["check"], v["source"], sorted(v)) for v in data["verdicts"]]
    return shape


def test_reports_are_the_same_with_two_workers_as_with_none(
    pytester: pytest.Pytester, harness_target: HarnessTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    serial = run_suite(pytester, harness_target, monkeypatch, "-n", "0")
    serial.assert_outcomes(failed=8)  # too few samples: never a PASS
    without = report_shape(pytester.path)
    shutil.rmtree(pytester.path / "tests")
    parallel = run_suite(pytester, harness_target, monkeypatch, "-n", "2")
    parallel.assert_outcomes(failed=8)
    assert report_shape(pytester.path) == without
    assert "ecosystem_slo_matrix.md" in without["files"]  # type: ignore[operator]


def test_a_stopped_app_fails_the_session_and_its_evidence_says_why(
    pytester: pytest.Pytester, harness_target: HarnessTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness_target.eco.stop("A4")
    try:
        result = run_suite(pytester, harness_target, monkeypatch, "-p", "no:xdist")
    finally:
        harness_target.eco.start("A4")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["GATE FAILED: *", "*A4 error_rate [[]probe] FAIL (BOUND_EXCEEDS)*"]
    )
    evidence = json.loads((pytester.path / "tests/perf/evidence/A4_health.json").read_text())
    probe = next(
        v for v in evidence["verdicts"] if (v["check"], v["source"]) == ("error_rate", "probe")
    )
    assert (probe["outcome"], probe["k"], probe["n"]) == ("FAIL", probe["n"], probe["n"])
    assert probe["details"]["probe_errors"] == {"connect": probe["n"]}
    confirmation = (pytester.path / "tests/perf/reports/a8_second_confirmation.md").read_text()
    assert "**Result: NOT MET**" in confirmation
    assert "| A4 | **FAIL** |" in confirmation
