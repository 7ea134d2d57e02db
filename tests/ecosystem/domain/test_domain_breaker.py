"""The circuit breaker's state machine on a fake clock, every transition reported."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from reftarget.domain.resilience import BreakerState, CircuitBreaker, CircuitOpen

if TYPE_CHECKING:
    from conftest import FakeClock

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


class Recorder:
    def __init__(self) -> None:
        self.transitions: list[tuple[BreakerState, BreakerState, str]] = []

    def __call__(self, old: BreakerState, new: BreakerState, reason: str) -> None:
        self.transitions.append((old, new, reason))

    def pairs(self) -> list[tuple[BreakerState, BreakerState]]:
        return [(old, new) for old, new, _ in self.transitions]


def fail() -> None:
    raise ConnectionError("upstream 503")


def ok() -> str:
    return "ok"


def trip(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        with pytest.raises(ConnectionError):
            breaker.call(fail)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def breaker(clock: FakeClock, recorder: Recorder) -> CircuitBreaker:
    return CircuitBreaker(3, 30.0, clock, recorder, name="a4")


def test_full_cycle_closed_open_half_open_closed(
    breaker: CircuitBreaker, clock: FakeClock, recorder: Recorder
) -> None:
    trip(breaker, 2)
    assert breaker.state is CLOSED
    trip(breaker, 1)
    assert breaker.state is OPEN
    clock.advance(30.0)
    assert breaker.call(ok) == "ok"
    assert breaker.state is CLOSED
    assert recorder.pairs() == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]
    reasons = [reason for _, _, reason in recorder.transitions]
    assert reasons[0].startswith("failure_threshold_reached")
    assert reasons[1:] == ["reset_timeout_elapsed", "probe_succeeded"]


def test_a_failed_probe_reopens_and_restarts_the_timeout(
    breaker: CircuitBreaker, clock: FakeClock, recorder: Recorder
) -> None:
    trip(breaker, 3)
    clock.advance(30.0)
    trip(breaker, 1)  # the probe
    assert breaker.state is OPEN
    assert recorder.pairs() == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, OPEN)]
    assert recorder.transitions[-1][2] == "probe_failed"
    assert breaker.retry_after_s() == 30.0


def test_open_circuit_refuses_without_calling_until_the_timeout(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    trip(breaker, 3)
    called = []
    clock.advance(29.0)
    with pytest.raises(CircuitOpen) as refused:
        breaker.call(lambda: called.append(1))
    assert called == []
    assert refused.value.retry_after_s == pytest.approx(1.0)
    assert 0.0 <= breaker.retry_after_s() <= breaker.reset_timeout_s


def test_a_success_resets_the_consecutive_failure_count(
    breaker: CircuitBreaker, recorder: Recorder
) -> None:
    trip(breaker, 2)
    breaker.call(ok)
    trip(breaker, 2)
    assert breaker.state is CLOSED
    assert breaker.consecutive_failures == 2
    assert recorder.transitions == []


def test_half_open_admits_one_probe_at_a_time(breaker: CircuitBreaker, clock: FakeClock) -> None:
    trip(breaker, 3)
    clock.advance(31.0)
    inner: list[BaseException] = []

    def probe() -> str:
        try:
            breaker.call(ok)
        except CircuitOpen as refused:
            inner.append(refused)
        return "probe"

    assert breaker.call(probe) == "probe"
    assert len(inner) == 1
    assert inner[0].state is HALF_OPEN  # type: ignore[attr-defined]
    assert breaker.state is CLOSED


def test_without_calls_an_expired_open_circuit_stays_open(
    breaker: CircuitBreaker, clock: FakeClock, recorder: Recorder
) -> None:
    trip(breaker, 3)
    clock.advance(3600.0)
    assert breaker.state is OPEN
    assert breaker.retry_after_s() == 0.0
    assert recorder.pairs() == [(CLOSED, OPEN)]


def test_uncounted_errors_pass_through_without_opening(
    clock: FakeClock, recorder: Recorder
) -> None:
    breaker = CircuitBreaker(1, 10.0, clock, recorder, counted=ConnectionError)

    def client_error() -> None:
        raise ValueError("422 from a healthy upstream")

    for _ in range(5):
        with pytest.raises(ValueError, match="422"):
            breaker.call(client_error)
    assert breaker.state is CLOSED
    assert recorder.transitions == []


def test_async_calls_drive_the_same_machine(
    breaker: CircuitBreaker, clock: FakeClock, recorder: Recorder
) -> None:
    async def afail() -> None:
        raise ConnectionError("down")

    async def aok() -> str:
        return "ok"

    async def main() -> None:
        for _ in range(3):
            with pytest.raises(ConnectionError):
                await breaker.call_async(afail)
        with pytest.raises(CircuitOpen):
            await breaker.call_async(aok)
        clock.advance(30.0)
        assert await breaker.call_async(aok) == "ok"

    asyncio.run(main())
    assert recorder.pairs() == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]
