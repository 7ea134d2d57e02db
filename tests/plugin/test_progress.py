"""Long phases print a progress line at least every 10 s, quiet under -q, also from an
xdist worker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from secondconf.checks.autonomy.timeline import RealTime
from secondconf.checks.liveness.measure import LivenessPlan, liveness_progress
from secondconf.checks.load.locust import locust_progress, wait_for_master
from secondconf.core.clock import ManualClock, SystemClock
from secondconf.core.progress import ProgressReport, ProgressThrottle
from secondconf.engine.window import Observation, StableWindowEvaluator


def test_a_line_is_due_every_10_seconds_of_the_clock_never_sooner() -> None:
    clock, lines = ManualClock(), []
    throttle = ProgressThrottle(lines.append, clock.monotonic)
    report = ProgressReport("liveness window", 5.0, 30.0, 7)
    clock.advance(9.9)
    assert not throttle.due()
    clock.advance(0.1)
    assert throttle.due()
    throttle.emit(report)
    assert not throttle.due()  # the clock restarts at each line
    clock.advance(10.0)
    assert throttle.due()
    assert lines == ["secondconf progress: liveness window 5s/30s (remaining 25s), 7 samples"]


def test_the_line_names_elapsed_remaining_samples_and_each_apps_estimate() -> None:
    report = ProgressReport("soak", 130.0, 900.0, 12345, {"A1": "errors 0/10", "A2": "x"})
    assert report.line() == (
        "secondconf progress: soak 2m10s/15m00s (remaining 12m50s), 12,345 samples;"
        " A1 errors 0/10; A2 x"
    )


def test_liveness_progress_shows_burn_in_then_each_apps_errors_and_p95_so_far() -> None:
    clock = ManualClock()
    plan = LivenessPlan(burn_in_s=3.0, window_s=25.0, rate_per_target=8.0)
    evaluators = {
        app: StableWindowEvaluator(clock=clock, burn_in_s=3.0, window_s=25.0, subject=app)
        for app in ("A1", "A2")
    }
    burn_in = liveness_progress(plan, 1.0, 4, evaluators)
    assert burn_in.phase == "liveness burn-in"
    assert burn_in.estimates == {}
    for i in range(20):
        evaluators["A1"].observe(Observation(at=3.0 + i / 10, failed=i == 0, latency_ms=i + 1))
    window = liveness_progress(plan, 13.0, 40, evaluators)
    assert window.phase == "liveness window"
    assert window.total_s == 28.0
    assert window.estimates == {"A1": "errors 1/20, p95 19 ms", "A2": "errors 0/0, no samples yet"}


PHASE = """
from secondconf.core.clock import ManualClock
from secondconf.core.progress import ProgressReport
from secondconf.pytest_plugin.progress import terminal_progress

def test_long_phase(pytestconfig):
    clock = ManualClock()
    progress = terminal_progress(pytestconfig, clock)
    if progress is None:
        return
    clock.advance(10.0)
    assert progress.due()
    progress.emit(ProgressReport("liveness window", 10.0, 30.0, 80))
"""


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        ((), "secondconf progress: liveness window 10s/30s"),
        (("-n", "1"), "[gw0] secondconf progress: liveness window 10s/30s"),
        (("-q",), None),
    ],
)
def test_the_line_reaches_the_terminal_unless_quiet(
    pytester: pytest.Pytester, args: tuple[str, ...], shown: str | None
) -> None:
    pytester.makepyfile(PHASE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    result.assert_outcomes(passed=1)
    lines = [line for line in result.errlines if "secondconf progress" in line]
    if shown is None:
        assert lines == []
    else:
        assert [line.startswith(shown) for line in lines] == [True]


LOCUST_CSV = """Type,Name,Request Count,Failure Count,Median Response Time,95%
GET,A1 /health,120,0,3,9
,Aggregated,240,1,3,11
"""


def test_a_load_run_reports_locusts_running_totals(tmp_path: Path) -> None:
    out = tmp_path / "baseline"
    (tmp_path / "baseline_stats.csv").write_text(LOCUST_CSV)
    report = locust_progress(out, 12.0, 40.0)
    assert report.line() == (
        "secondconf progress: load (locust) 12s/40s (remaining 28s), 240 samples;"
        " all endpoints failures 1/240, p95 11 ms"
    )
    assert locust_progress(tmp_path / "absent", 1.0, 40.0).samples == 0  # before its first CSV


def test_waiting_for_locust_prints_progress_while_it_runs(tmp_path: Path) -> None:
    lines: list[str] = []
    clock = SystemClock()
    throttle = ProgressThrottle(lines.append, clock.monotonic, every_s=0.5)
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(2)"])
    assert wait_for_master(process, 30.0, clock, 2.0, tmp_path / "baseline", throttle) == 0
    assert len(lines) >= 2
    assert all(line.startswith("secondconf progress: load (locust)") for line in lines)


@pytest.mark.asyncio
async def test_a_real_soak_prints_progress_while_it_waits() -> None:
    lines: list[str] = []
    clock = SystemClock()
    real_time = RealTime(progress=ProgressThrottle(lines.append, clock.monotonic, 0.5), total_s=9)
    await real_time.advance(2.5)
    assert real_time.waited_s == pytest.approx(2.5)
    assert len(lines) >= 2
    assert lines[-1].startswith("secondconf progress: autonomy soak (A3 in real time) 2s/9s")
