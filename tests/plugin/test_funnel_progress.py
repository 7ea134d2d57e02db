"""The funnel phases' journeys show progress: journeys done of the total, passes, and the
success rate's lower bound so far, at least every 10 s even while no journey ends; quiet
without a throttle (``-q``)."""

from __future__ import annotations

import asyncio

import pytest
from secondconf.checks.funnels.progress import JourneyTally
from secondconf.core.clock import ManualClock
from secondconf.core.progress import ProgressThrottle


def test_the_line_counts_journeys_passes_and_the_lower_bound_so_far() -> None:
    clock = ManualClock()
    tally = JourneyTally("B2C journeys", 35, clock)
    assert tally.report().line() == (
        "secondconf progress: B2C journeys 0s/0s (remaining 0s), 0 samples;"
        " journeys 0/35 done; passed 0/0"
    )
    clock.advance(20.0)
    for passed in [True] * 9 + [False]:
        tally.record(passed)
    # 10 of 35 done in 20 s: 70 s at that pace; 9 of 10 passed, Wilson lower limit 0.5958
    assert tally.report().line() == (
        "secondconf progress: B2C journeys 20s/1m10s (remaining 50s), 10 samples;"
        " journeys 10/35 done; passed 9/10; success lower bound 0.5958"
    )
    for _ in range(25):
        tally.record(True)
    assert tally.report().estimates["success lower bound"] == "0.8547"  # 34 of 35


def test_a_journey_ending_gives_a_line_only_when_one_is_due() -> None:
    clock, lines = ManualClock(), []
    tally = JourneyTally("B2B journeys", 3, clock, ProgressThrottle(lines.append, clock.monotonic))
    tally.record(True)
    assert lines == []
    clock.advance(10.0)
    tally.record(True)
    assert len(lines) == 1
    assert lines[0].endswith("journeys 2/3 done; passed 2/2; success lower bound 0.3424")


@pytest.mark.asyncio
async def test_a_line_comes_every_10_s_while_no_journey_ends() -> None:
    clock, lines = ManualClock(), []
    tally = JourneyTally("B2B journeys", 35, clock, ProgressThrottle(lines.append, clock.monotonic))
    async with tally.ticking(tick_s=0.001):
        clock.advance(9.9)
        await asyncio.sleep(0.05)
        assert lines == []
        clock.advance(0.1)
        await asyncio.sleep(0.05)
        assert lines == [
            "secondconf progress: B2B journeys 10s/10s (remaining 0s), 0 samples;"
            " journeys 0/35 done; passed 0/0"
        ]
        clock.advance(10.0)
        await asyncio.sleep(0.05)
        assert len(lines) == 2
    clock.advance(10.0)
    await asyncio.sleep(0.05)
    assert len(lines) == 2  # the ticker stops with the block


@pytest.mark.asyncio
async def test_quiet_without_a_throttle_and_no_ticker() -> None:
    clock = ManualClock()
    tally = JourneyTally("B2C journeys", 35, clock)
    before = len(asyncio.all_tasks())
    async with tally.ticking(tick_s=0.001):
        assert len(asyncio.all_tasks()) == before
        clock.advance(60.0)
        tally.record(True)
    assert tally.done == 1
