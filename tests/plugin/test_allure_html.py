"""The Allure HTML report: the gate's default results folder, the files QA relies on,
history carried between runs, and one clear error line when it cannot be made."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from secondconf.cli.allure import main as allure_main
from secondconf.reports.allure_html import (
    CATEGORIES,
    AllureReport,
    AllureReportError,
    environment_properties,
    generate,
    prepare_results,
)

GATE_CHECKS = """
import pytest

@pytest.mark.second_confirmation
@pytest.mark.phase(0)
def test_gate_check():
    pass

def test_not_a_check():
    pass
"""

RUN = {
    "run_id": "0123456789abcdef",
    "target": "embedded default",
    "env": "embedded",
    "profile": {"name": "embedded", "window_s": 25.0},
    "statistics": {"confidence": 0.95, "method": "wilson", "gating_mode": "fixed"},
    "library_versions": {"pytest": "9.2.0"},
}


def _report(root: Path) -> AllureReport:
    results = root / "results"
    results.mkdir(exist_ok=True)
    (results / "abc-result.json").write_text("{}")
    return AllureReport(results, root / "out" / "report.html", root / "history")


class FakeAllure:
    """Stands in for the Allure command: writes what Allure 2 writes, records its calls."""

    def __init__(self, returncode: int = 0) -> None:
        self.calls: list[list[str]] = []
        self.returncode = returncode

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(argv))
        out = Path(argv[argv.index("-o") + 1])
        out.mkdir(parents=True)
        if "--single-file" in argv:
            (out / "index.html").write_text(f"<html>report {len(self.calls)}</html>")
        else:
            (out / "history").mkdir()
            (out / "history" / "history-trend.json").write_text(f"[{len(self.calls)}]")
        return subprocess.CompletedProcess(argv, self.returncode, "", "boom: bad results\n")


def test_environment_names_the_run_and_never_a_missing_value() -> None:
    text = environment_properties({**RUN, "target": "a\nb", "env": None})
    lines = text.splitlines()
    assert "target=a b" in lines  # one property per line, always
    assert "run_id=0123456789abcdef" in lines
    assert "version.pytest=9.2.0" in lines
    assert not any(line.startswith("env=") for line in lines)


def test_categories_put_product_defects_apart_from_harness_defects() -> None:
    names = [c["name"] for c in CATEGORIES]
    assert any(n.startswith("Product defects") for n in names)
    assert any(n.startswith("Harness defects") for n in names)
    # First match wins: INCONCLUSIVE must be named before the generic product-defect rule.
    assert names[0].startswith("Inconclusive")


def test_prepare_writes_the_files_and_carries_the_previous_history(tmp_path: Path) -> None:
    report = _report(tmp_path)
    (report.history_dir).mkdir()
    (report.history_dir / "history.json").write_text('{"old": 1}')
    (report.history_dir / "build_order").write_text("4\n")
    assert prepare_results(report, RUN) == 5
    results = report.results_dir
    assert json.loads((results / "categories.json").read_text()) == list(CATEGORIES)
    assert json.loads((results / "executor.json").read_text())["buildOrder"] == 5
    assert "env=embedded" in (results / "environment.properties").read_text().splitlines()
    assert (results / "history" / "history.json").read_text() == '{"old": 1}'
    assert not (results / "history" / "build_order").exists()


def test_generate_writes_one_html_file_and_keeps_the_new_history(tmp_path: Path) -> None:
    report = _report(tmp_path)
    fake = FakeAllure()
    assert generate(report, Path("/bin/allure"), RUN, runner=fake) == report.report_file
    assert report.report_file.read_text() == "<html>report 2</html>"
    assert (report.history_dir / "history-trend.json").read_text() == "[1]"
    assert (report.history_dir / "build_order").read_text() == "1\n"
    generate(report, Path("/bin/allure"), RUN, runner=FakeAllure())
    assert (report.history_dir / "build_order").read_text() == "2\n"


def test_a_failing_allure_is_one_error_line_and_keeps_the_previous_report(
    tmp_path: Path,
) -> None:
    report = _report(tmp_path)
    report.report_file.parent.mkdir()
    report.report_file.write_text("previous")
    with pytest.raises(AllureReportError, match="exited 1: boom: bad results"):
        generate(report, Path("/bin/allure"), RUN, runner=FakeAllure(returncode=1))
    assert report.report_file.read_text() == "previous"


def test_the_cli_says_in_one_line_that_there_are_no_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = allure_main(["--results", str(tmp_path / "none"), "--project-root", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("secondconf-allure: error: no Allure results")


def test_the_cli_says_how_to_install_allure_when_it_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no allure on PATH, none installed here
    results = _report(tmp_path).results_dir
    code = allure_main(["--results", str(results), "--project-root", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "run `bash scripts/setup.sh`" in err[0]


def test_a_gate_run_writes_allure_results_by_default_and_only_its_own(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(GATE_CHECKS)
    folder = pytester.path / "tests" / "perf" / "allure-results"
    folder.mkdir(parents=True)
    (folder / "stale-result.json").write_text("{}")  # a previous run's
    pytester.runpytest("-p", "no:xdist", "-m", "second_confirmation").assert_outcomes(passed=1)
    names = [json.loads(p.read_text())["name"] for p in folder.glob("*-result.json")]
    assert names == ["test_gate_check"]


@pytest.mark.parametrize(
    "args", [["-m", "not slow"], ["-m", "second_confirmation", "--alluredir=mine"]]
)
def test_no_default_results_outside_the_gate_or_when_a_folder_is_named(
    pytester: pytest.Pytester, args: list[str]
) -> None:
    pytester.makepyfile(GATE_CHECKS)
    pytester.runpytest("-p", "no:xdist", *args)
    assert not (pytester.path / "tests" / "perf" / "allure-results").exists()


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "no chromium on PATH: `bash scripts/setup.sh` installs one"
    return found


async def _open_suites(html: Path, module: str, screenshot: Path) -> str:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=_chromium(), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = await browser.new_page()
            await page.goto(html.as_uri() + "#suites")
            await page.get_by_text(module, exact=True).first.click(timeout=20_000)
            await page.get_by_text("test_gate_check").first.wait_for(timeout=20_000)
            await page.screenshot(path=str(screenshot))
            return await page.inner_text("body")
        finally:
            await browser.close()


def test_the_html_report_opens_offline_in_chromium_and_shows_the_runs_checks(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_gate=GATE_CHECKS)
    pytester.runpytest("-p", "no:xdist", "-m", "second_confirmation").assert_outcomes(passed=1)
    project_root = Path(__file__).resolve().parents[2]
    perf = pytester.path / "tests" / "perf"
    code = allure_main(
        [
            "--results", str(perf / "allure-results"),
            "--out", str(perf / "reports" / "allure-report.html"),
            "--history", str(perf / "allure-history"),
            "--run-results", str(perf / "reports" / "secondconf_results.json"),
            "--project-root", str(project_root),
        ]
    )  # fmt: skip
    assert code == 0
    html = perf / "reports" / "allure-report.html"
    screenshot = pytester.path / "allure-report.png"  # kept with the test's temp folder
    body = asyncio.run(_open_suites(html, "test_gate", screenshot))
    assert "test_gate_check" in body
    assert "test_not_a_check" not in body  # deselected: not part of this run
    assert screenshot.stat().st_size > 10_000
    assert (perf / "allure-history" / "build_order").read_text() == "1\n"
