"""The drills' progress (issue 15): a line at least every 10 s naming the drill, the time
elapsed and the step it is in, from a ticker that runs while the drills do."""

from __future__ import annotations

import asyncio

from secondconf.checks.resiliency.drills import DRILLS
from secondconf.checks.resiliency.progress import DrillProgress
from secondconf.checks.resiliency.run import planned_s
from secondconf.core.clock import ManualClock
from secondconf.core.progress import ProgressThrottle


def _tracker(lines: list[str], clock: ManualClock, every_s: float = 10.0) -> DrillProgress:
    return DrillProgress(ProgressThrottle(lines.append, clock.monotonic, every_s), clock, 120.0)


def test_a_line_names_the_drill_its_step_and_the_time_elapsed_once_ten_seconds_passed() -> None:
    clock, lines = ManualClock(), []
    tracker = _tracker(lines, clock)
    tracker.drill("4/5 DRL-04 (A5: process restarted)")
    tracker.step("inject")
    tracker.judged(1_120)
    clock.advance(9.0)
    tracker.tick()
    assert lines == []  # not before 10 s

    clock.advance(3.0)
    tracker.step("detect/contain")

    assert lines == [
        "secondconf progress: resiliency drills 12s/2m00s (remaining 1m48s), 1,120 samples; "
        "drill 4/5 DRL-04 (A5: process restarted); step detect/contain for 0 s"
    ]
    clock.advance(10.0)
    tracker.tick()
    assert lines[-1].endswith("step detect/contain for 10 s")


def test_the_ticker_emits_while_the_drills_run_and_stops_with_them() -> None:
    clock, lines = ManualClock(), []
    tracker = DrillProgress(ProgressThrottle(lines.append, clock.monotonic, 0.0), clock, 1.0, 0.0)

    async def drills() -> int:
        async with tracker.ticking():
            while len(lines) < 3:  # the ticker, not this loop, writes the lines
                await asyncio.sleep(0)
        emitted = len(lines)
        for _ in range(10):  # the loop runs on; a ticker still running would write more
            await asyncio.sleep(0)
        return emitted

    emitted = asyncio.run(asyncio.wait_for(drills(), timeout=10.0))
    assert len(lines) == emitted >= 3
    assert all("drill none yet; step steady state for 0 s" in line for line in lines)


def test_the_planned_time_is_the_probe_windows_of_every_drill() -> None:
    # steady state 3 + 4 s, then per drill detection 2 + 10 s and confirmation 3 + 6.5 s
    assert planned_s(DRILLS) == 7.0 + len(DRILLS) * 21.5
