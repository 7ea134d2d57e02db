"""retry_call: retries only what it is told to, sleeps through the injected sleeper, stops."""

from __future__ import annotations

import asyncio
import random

import pytest
from reftarget.domain.resilience import Backoff, RetryAttempt, retry_call, retry_call_async


class Flaky:
    """Fails with the given errors in order, then returns "ok"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def backoff() -> Backoff:
    return Backoff(0.1, 2.0, rng=random.Random(11))


def test_retries_listed_errors_until_success_with_jittered_sleeps() -> None:
    fn = Flaky(ConnectionError("a"), TimeoutError("b"))
    sleeps: list[float] = []
    result = retry_call(
        fn,
        attempts=4,
        backoff=backoff(),
        sleep=sleeps.append,
        retry_on=(ConnectionError, TimeoutError),
    )
    assert result == "ok"
    assert fn.calls == 3
    assert len(sleeps) == 2
    assert 0.0 <= sleeps[0] <= 0.1
    assert 0.0 <= sleeps[1] <= 0.2


def test_an_unlisted_error_propagates_at_once_without_sleeping() -> None:
    fn = Flaky(ValueError("bad request"), ConnectionError())
    sleeps: list[float] = []
    with pytest.raises(ValueError, match="bad request"):
        retry_call(fn, attempts=5, backoff=backoff(), sleep=sleeps.append, retry_on=ConnectionError)
    assert fn.calls == 1
    assert sleeps == []


def test_gives_up_after_attempts_and_reraises_the_last_error() -> None:
    errors = [ConnectionError(f"down {i}") for i in range(10)]
    fn = Flaky(*errors)
    sleeps: list[float] = []
    reported: list[RetryAttempt] = []
    with pytest.raises(ConnectionError) as raised:
        retry_call(
            fn,
            attempts=3,
            backoff=backoff(),
            sleep=sleeps.append,
            retry_on=ConnectionError,
            on_retry=reported.append,
        )
    assert raised.value is errors[2]
    assert fn.calls == 3
    assert len(sleeps) == 2  # no sleep after the last attempt
    assert [(r.attempt, r.delay_s) for r in reported] == [(1, sleeps[0]), (2, sleeps[1])]


def test_attempts_must_be_at_least_one() -> None:
    with pytest.raises(ValueError, match="attempts"):
        retry_call(Flaky(), attempts=0, backoff=backoff(), sleep=print, retry_on=Exception)


def test_async_variant_gives_up_after_attempts() -> None:
    calls = 0
    sleeps: list[float] = []

    async def failing() -> str:
        nonlocal calls
        calls += 1
        raise ConnectionError("down")

    async def record(seconds: float) -> None:
        sleeps.append(seconds)

    async def main() -> None:
        await retry_call_async(
            failing, attempts=4, backoff=backoff(), sleep=record, retry_on=ConnectionError
        )

    with pytest.raises(ConnectionError):
        asyncio.run(main())
    assert calls == 4
    assert len(sleeps) == 3
