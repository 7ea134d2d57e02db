"""A3's cycle runner on a fake clock: progress, auto-heal, escalation, stall, autonomy."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from reftarget.domain.cycles import CycleAlreadyRunning, CycleContext, CycleRunner
from reftarget.domain.records import Emitted
from reftarget.domain.resilience import Backoff
from reftarget.domain.storage import Database

if TYPE_CHECKING:
    from conftest import FakeClock

CYCLE_S = 30.0


def steady(ctx: CycleContext) -> None:
    for percent in (25, 50, 75):
        ctx.progress(percent)


def fails_on(*attempts: int) -> Callable[[CycleContext], None]:
    """Work whose given attempts (of every cycle) raise, like a 503 from A4."""

    def work(ctx: CycleContext) -> None:
        if ctx.attempt in attempts:
            raise ConnectionError(f"A4 answered 503 (attempt {ctx.attempt})")
        ctx.progress(50)

    return work


def make_runner(
    clock: FakeClock,
    db: sqlite3.Connection | Database,
    work: Callable[[CycleContext], None],
    events: list[Emitted] | None = None,
) -> CycleRunner:
    return CycleRunner(
        clock,
        db,
        work,
        None if events is None else events.append,
        max_attempts=3,
        backoff=Backoff(2.0, 60.0, rng=random.Random(9)),
        sleep=clock.sleep,
        async_sleep=clock.async_sleep,
    )


def test_a_cycle_reports_progress_then_completes(
    clock: FakeClock, conn: sqlite3.Connection
) -> None:
    events: list[Emitted] = []
    runner = make_runner(clock, conn, steady, events)
    result = runner.run_cycle()
    assert result.cycle == 1
    assert result.status == "succeeded"
    assert [(e.event_name, e.fields.get("percent")) for e in result.emitted] == [
        ("run_progress", 25.0),
        ("run_progress", 50.0),
        ("run_progress", 75.0),
        ("run_progress", 100.0),
        ("orchestration_cycle_complete", None),
    ]
    assert events == list(result.emitted)  # delivered live, in the same order
    assert runner.run_cycle().cycle == 2


def test_a_failed_attempt_heals_itself_after_a_backoff(
    clock: FakeClock, conn: sqlite3.Connection
) -> None:
    runner = make_runner(clock, conn, fails_on(1))
    result = runner.run_cycle()
    assert result.status == "succeeded"
    assert result.attempts == 2
    assert result.heal is not None
    assert result.heal.failed_attempts == 1
    assert "503" in result.heal.errors[0]
    assert len(clock.slept) == 1
    assert 0.0 <= clock.slept[0] <= 2.0
    complete = result.emitted[-1]
    assert complete.event_name == "orchestration_cycle_complete"
    assert complete.fields["healed"] is True
    assert runner.heals() == [result.heal]
    status = runner.status()
    assert status.manual_interventions == 0
    assert status.heals == 1


def test_a_cycle_failing_every_attempt_escalates_and_the_run_moves_on(
    clock: FakeClock, conn: sqlite3.Connection
) -> None:
    runner = make_runner(clock, conn, fails_on(1, 2, 3))
    result = runner.run_cycle()
    assert result.status == "failed"
    assert result.attempts == 3
    assert result.escalation is not None
    assert len(result.escalation.errors) == 3
    assert all(e.event_name != "orchestration_cycle_complete" for e in result.emitted)
    assert len(clock.slept) == 2  # between attempts, not after the last
    assert clock.slept[1] <= 4.0
    assert runner.escalations() == [result.escalation]
    status = runner.status()
    assert (status.cycles_failed, status.cycles_succeeded, status.next_cycle) == (1, 0, 2)


def test_stalled_after_two_hours_without_a_successful_cycle(
    clock: FakeClock, conn: sqlite3.Connection
) -> None:
    runner = make_runner(clock, conn, steady)
    clock.advance(2 * 3600)
    assert not runner.is_stalled()
    clock.advance(1)
    assert runner.is_stalled()
    runner.run_cycle()
    assert not runner.is_stalled()
    assert runner.seconds_since_success() == 0.0
    clock.advance(2 * 3600 + 1)
    assert runner.is_stalled()


def test_escalated_cycles_do_not_count_as_progress(
    clock: FakeClock, conn: sqlite3.Connection
) -> None:
    runner = make_runner(clock, conn, fails_on(1, 2, 3))
    for _ in range(30):
        runner.run_cycle()
        clock.advance(300)
    assert runner.status().seconds_since_success > 2 * 3600
    assert runner.is_stalled()


def test_two_hundred_autonomous_minutes_until_a_manual_intervention(
    clock: FakeClock, conn: sqlite3.Connection
) -> None:
    flaky_cycles = {100, 250}

    def work(ctx: CycleContext) -> None:
        if ctx.cycle in flaky_cycles and ctx.attempt == 1:
            raise ConnectionError("injected 503")
        ctx.progress(60)

    runner = make_runner(clock, conn, work)
    while clock.elapsed < 200 * 60:
        assert runner.run_cycle().status == "succeeded"
        clock.advance(CYCLE_S)
    status = runner.status()
    assert status.autonomous_minutes >= 200
    assert status.manual_interventions == 0
    assert status.heals == 2
    assert not status.stalled

    intervention = runner.record_intervention("ops@example.test", "restarted A4")
    assert runner.autonomous_minutes() == 0.0
    clock.advance(5 * 60)
    assert runner.autonomous_minutes() == 5.0
    assert runner.interventions() == [intervention]


def test_run_state_survives_a_restart(clock: FakeClock, tmp_path: Path) -> None:
    db_path = tmp_path / "a3.sqlite"
    before_restart = Database(db_path)
    first = make_runner(clock, before_restart, fails_on(1))
    first.run_cycle()
    first.record_intervention("ops", "tuned the cycle")
    before_restart.close()
    clock.advance(600)

    after_restart = Database(db_path)
    second = make_runner(clock, after_restart, steady)
    assert second.run_cycle().cycle == 2
    status = second.status()
    assert (status.cycles_succeeded, status.heals, status.manual_interventions) == (2, 1, 1)
    assert status.autonomous_minutes == 10.0
    after_restart.close()


def test_async_work_heals_through_the_async_sleeper(
    clock: FakeClock, conn: sqlite3.Connection
) -> None:
    async def work(ctx: CycleContext) -> None:
        if ctx.attempt == 1:
            raise TimeoutError("A4 timed out")
        ctx.progress(40)

    runner = CycleRunner(
        clock,
        conn,
        work,
        sleep=clock.sleep,
        async_sleep=clock.async_sleep,
        backoff=Backoff(1.0, 5.0, rng=random.Random(1)),
    )
    result = asyncio.run(runner.arun_cycle())
    assert result.status == "succeeded"
    assert result.heal is not None
    assert len(clock.slept) == 1


def test_cycles_of_one_run_never_overlap(clock: FakeClock, conn: sqlite3.Connection) -> None:
    refused: list[BaseException] = []
    runner: CycleRunner

    def reentrant(ctx: CycleContext) -> None:
        try:
            runner.run_cycle()
        except CycleAlreadyRunning as error:
            refused.append(error)

    runner = make_runner(clock, conn, reentrant)
    assert runner.run_cycle().status == "succeeded"
    assert len(refused) == 1


def test_progress_outside_zero_to_hundred_is_a_bug(
    clock: FakeClock, conn: sqlite3.Connection
) -> None:
    def bad(ctx: CycleContext) -> None:
        ctx.progress(150)

    result = make_runner(clock, conn, bad).run_cycle()
    assert result.status == "failed"
    assert result.escalation is not None
    assert "ValueError" in result.escalation.errors[0]
