"""One self-contained Allure HTML report from the gate's Allure results, offline.

Allure 2 (npm ``allure-commandline``, run on Java 17) is the generator: its
``--single-file`` report opens from ``file://`` (the multi-file one needs an HTTP server),
and it reads the three files QA relies on from the results folder, which nothing else
writes: ``categories.json`` (product defects apart from harness defects),
``environment.properties`` and ``executor.json``. History is ours to carry (Allure has no
store): before each generation the previous run's ``history/`` is copied into the results,
and afterwards the new one is kept. A single-file report holds no ``history/``, so the
report is generated twice, multi-file for the history and single-file for the HTML
(about 2 s each).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from secondconf.core.files import write_atomic

ALLURE_PACKAGE: Final = "allure-commandline@2.46.1"
ALLURE_HOME: Final = ".allure"  # under the project root: npm install --prefix .allure
REPORT_FILE: Final = "allure-report.html"
HISTORY_DIR: Final = "allure-history"
RESULTS_DIR: Final = "allure-results"
GENERATE_TIMEOUT_S: Final = 300.0

# First match wins (Allure's rule). A verdict that is not PASS fails its test with
# "release gate: verdict not PASS" and the verdicts' summaries (pytest_plugin.plugin).
CATEGORIES: Final[tuple[Mapping[str, Any], ...]] = (
    {
        "name": "Inconclusive: not enough evidence to judge (never a pass)",
        "matchedStatuses": ["failed"],
        "messageRegex": "(?s).*INCONCLUSIVE.*",
    },
    {
        "name": "Product defects: the target failed a check",
        "matchedStatuses": ["failed"],
        "messageRegex": "(?s).*(release gate: verdict not PASS|FAIL).*",
    },
    {
        "name": "Awaiting a HITL approval",
        "matchedStatuses": ["skipped"],
        "messageRegex": "(?s).*(HITL|approval).*",
    },
    {
        "name": "Harness defects: the harness itself broke",
        "matchedStatuses": ["broken", "failed"],
    },
)

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


class AllureReportError(Exception):
    """The report cannot be made; the message is one line saying why and what to do."""


@dataclass(frozen=True)
class AllureReport:
    """Where the results are read and the report and its history are written."""

    results_dir: Path
    report_file: Path
    history_dir: Path


def find_allure(project_root: Path) -> Path:
    """The Allure 2 command: the project's own install (``scripts/setup.sh``), else PATH."""
    local = project_root / ALLURE_HOME / "node_modules" / ".bin" / "allure"
    if local.exists():
        return local
    found = shutil.which("allure")
    if found is None:
        raise AllureReportError(
            f"the Allure commandline is not installed: run `bash scripts/setup.sh` (it runs "
            f"`npm install --prefix {ALLURE_HOME} {ALLURE_PACKAGE}`; Allure 2 needs Java 17)"
        )
    return Path(found)


def environment_properties(run: Mapping[str, Any]) -> str:
    """``environment.properties`` from the run's ``secondconf_results.json`` (no secret is
    in it: the results model holds names and outcomes only)."""
    profile = run.get("profile") or {}
    statistics = run.get("statistics") or {}
    versions = run.get("library_versions") or {}
    pairs = {
        "target": run.get("target"),
        "env": run.get("env"),
        "profile": profile.get("name"),
        "window_s": profile.get("window_s"),
        "confidence": statistics.get("confidence"),
        "method": statistics.get("method"),
        "gating_mode": statistics.get("gating_mode"),
        "run_id": run.get("run_id"),
        **{f"version.{name}": version for name, version in sorted(versions.items())},
    }
    lines = [f"{key}={_property_value(value)}" for key, value in pairs.items() if value is not None]
    return "\n".join(lines) + "\n"


def _property_value(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", " ")


def executor(run: Mapping[str, Any], build_order: int) -> dict[str, Any]:
    """``executor.json``: who ran the gate; ``buildOrder`` orders the history trend."""
    run_id = str(run.get("run_id") or "unknown")
    return {
        "name": "secondconf",
        "type": "pytest",
        "buildOrder": build_order,
        "buildName": f"second confirmation #{build_order} ({run_id[:12]})",
        "reportName": "Second confirmation",
    }


def _next_build_order(history_dir: Path) -> int:
    counter = history_dir / "build_order"
    try:
        return int(counter.read_text().strip()) + 1
    except (OSError, ValueError):
        return 1


def require_results(results: Path) -> None:
    """Refuse a folder with no test results: a report of nothing would look like a pass."""
    if not results.is_dir() or not any(results.glob("*-result.json")):
        raise AllureReportError(
            f"no Allure results in {results}: run the gate first "
            f"(`pytest -m second_confirmation` writes them there by default)"
        )


def prepare_results(report: AllureReport, run: Mapping[str, Any]) -> int:
    """Write the categories, environment and executor files and the previous history into
    the results folder; returns this report's build order."""
    results = report.results_dir
    require_results(results)
    build_order = _next_build_order(report.history_dir)
    write_atomic(results / "categories.json", json.dumps(list(CATEGORIES), indent=2) + "\n")
    write_atomic(results / "environment.properties", environment_properties(run))
    write_atomic(results / "executor.json", json.dumps(executor(run, build_order), indent=2) + "\n")
    carried = results / "history"
    shutil.rmtree(carried, ignore_errors=True)
    if report.history_dir.is_dir():
        shutil.copytree(report.history_dir, carried, ignore=shutil.ignore_patterns("build_order"))
    return build_order


def generate(
    report: AllureReport,
    allure: Path,
    run: Mapping[str, Any],
    runner: Runner | None = None,
) -> Path:
    """Make ``report.report_file`` (one HTML file) and keep the new history; returns the file."""
    run_allure = runner or _run
    build_order = prepare_results(report, run)
    with tempfile.TemporaryDirectory(prefix="secondconf-allure-") as scratch:
        multi, single = Path(scratch) / "multi", Path(scratch) / "single"
        results = str(report.results_dir)
        _checked(run_allure([str(allure), "generate", results, "-o", str(multi), "--clean"]))
        _checked(
            run_allure(
                [str(allure), "generate", results, "-o", str(single), "--clean", "--single-file"]
            )
        )
        html = single / "index.html"
        if not html.is_file():
            raise AllureReportError(f"Allure wrote no index.html (ran {allure})")
        write_atomic(report.report_file, html.read_text(encoding="utf-8"))
        _keep_history(multi / "history", report.history_dir, build_order)
    return report.report_file


def _keep_history(new: Path, history_dir: Path, build_order: int) -> None:
    """Replace the kept history with the new one in one rename (never half of each)."""
    staged = history_dir.with_name(history_dir.name + ".new")
    shutil.rmtree(staged, ignore_errors=True)
    if new.is_dir():
        shutil.copytree(new, staged)
    else:
        staged.mkdir(parents=True)
    (staged / "build_order").write_text(f"{build_order}\n")
    old = history_dir.with_name(history_dir.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if history_dir.exists():
        os.replace(history_dir, old)
    os.replace(staged, history_dir)
    shutil.rmtree(old, ignore_errors=True)


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            list(argv), capture_output=True, text=True, timeout=GENERATE_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise AllureReportError(f"could not run Allure ({argv[0]}): {error}") from None


def _checked(done: subprocess.CompletedProcess[str]) -> None:
    if done.returncode != 0:
        lines = (done.stderr or done.stdout or "").strip().splitlines()
        last = lines[-1] if lines else "no output"
        raise AllureReportError(f"Allure generate exited {done.returncode}: {last}")
