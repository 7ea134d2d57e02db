"""Error correction for service-to-service calls (contract §8): backoff, retries, a breaker.

Why our own instead of tenacity/pybreaker: the sleeper, the randomness and the clock must
all be injected so that tests run in zero wall time and are exact, and every breaker
transition must reach the app (which turns it into an event). Both libraries bind time at
import or read the real clock.
"""

from __future__ import annotations

import asyncio
import enum
import random
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, ParamSpec, TypeVar

from reftarget.clock import Clock

__all__ = [
    "Backoff",
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpen",
    "Jitter",
    "RetryAttempt",
    "retry_call",
    "retry_call_async",
]

T = TypeVar("T")
P = ParamSpec("P")
Jitter = Literal["full", "equal", "none"]
ExceptionTypes = type[BaseException] | tuple[type[BaseException], ...]


class Backoff:
    """Exponential backoff with AWS-style jitter (Brooker, "Exponential Backoff And Jitter").

    ``ceiling(n) = min(cap_s, base_s · 2**n)`` for retry ``n`` (0 = the first retry).
    ``"full"``: ``U(0, ceiling)`` — spreads clients that failed together the most;
    ``"equal"``: ``ceiling/2 + U(0, ceiling/2)``; ``"none"``: exactly ``ceiling``.
    The rng is injected so tests can seed it; the default is an unseeded ``random.Random``.
    """

    def __init__(
        self,
        base_s: float,
        cap_s: float,
        jitter: Jitter = "full",
        *,
        rng: random.Random | None = None,
    ) -> None:
        if not base_s > 0:
            raise ValueError(f"base_s must be positive, got {base_s}")
        if not cap_s >= base_s:
            raise ValueError(f"cap_s ({cap_s}) must be at least base_s ({base_s})")
        if jitter not in ("full", "equal", "none"):
            raise ValueError(f"unknown jitter {jitter!r}")
        self.base_s = float(base_s)
        self.cap_s = float(cap_s)
        self.jitter: Jitter = jitter
        self._rng = rng if rng is not None else random.Random()

    def ceiling(self, attempt: int) -> float:
        """The largest delay retry ``attempt`` may wait (before jitter)."""
        if attempt < 0:
            raise ValueError(f"attempt must be >= 0, got {attempt}")
        # 2.0 ** 1023 is the largest finite power; beyond it the cap applies anyway.
        return min(self.cap_s, self.base_s * 2.0 ** min(attempt, 1023))

    def delay(self, attempt: int) -> float:
        """The delay before retry ``attempt``, drawn from the configured jitter."""
        ceiling = self.ceiling(attempt)
        if self.jitter == "full":
            return self._rng.uniform(0.0, ceiling)
        if self.jitter == "equal":
            return ceiling / 2 + self._rng.uniform(0.0, ceiling / 2)
        return ceiling


@dataclass(frozen=True)
class RetryAttempt:
    """A failed attempt that will be retried after ``delay_s`` (given to ``on_retry``)."""

    attempt: int
    error: BaseException
    delay_s: float


def _check_attempts(attempts: int) -> None:
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")


def retry_call(
    fn: Callable[[], T],
    *,
    attempts: int,
    backoff: Backoff,
    sleep: Callable[[float], None],
    retry_on: ExceptionTypes,
    on_retry: Callable[[RetryAttempt], None] | None = None,
) -> T:
    """Call ``fn`` up to ``attempts`` times in all, sleeping ``backoff.delay(n)`` between tries.

    Only exceptions matching ``retry_on`` are retried; anything else propagates at once.
    After the last attempt the last error is re-raised unchanged, so callers handle the
    error type they know. ``sleep`` is injected so tests record delays instead of waiting.
    """
    _check_attempts(attempts)
    for attempt in range(attempts):
        try:
            return fn()
        except retry_on as error:
            if attempt == attempts - 1:
                raise
            delay = backoff.delay(attempt)
            if on_retry is not None:
                on_retry(RetryAttempt(attempt + 1, error, delay))
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


async def retry_call_async(
    fn: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    backoff: Backoff,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    retry_on: ExceptionTypes,
    on_retry: Callable[[RetryAttempt], None] | None = None,
) -> T:
    """:func:`retry_call` for coroutines (the apps' httpx calls); same rules."""
    _check_attempts(attempts)
    for attempt in range(attempts):
        try:
            return await fn()
        except retry_on as error:
            if attempt == attempts - 1:
                raise
            delay = backoff.delay(attempt)
            if on_retry is not None:
                on_retry(RetryAttempt(attempt + 1, error, delay))
            await sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpen(Exception):
    """The breaker refused the call without trying it; retry after ``retry_after_s``."""

    def __init__(self, name: str, state: BreakerState, retry_after_s: float) -> None:
        super().__init__(f"circuit {name!r} is {state.value}; retry after {retry_after_s:.3f} s")
        self.name = name
        self.state = state
        self.retry_after_s = retry_after_s


TransitionListener = Callable[[BreakerState, BreakerState, str], None]


class CircuitBreaker:
    """closed → open → half_open → closed (or back to open when the probe fails).

    * closed: calls pass; ``failure_threshold`` consecutive failures open the circuit.
    * open: calls raise :class:`CircuitOpen` without touching the dependency, until
      ``reset_timeout_s`` has passed on ``clock.monotonic()``.
    * half_open: the first call after the timeout is the probe (at most
      ``half_open_max_calls`` at once; others are refused); success closes, failure reopens.

    Transitions happen on calls (as pybreaker and Polly do): with no traffic an expired open
    circuit still reports ``open``, and every transition has a cause. Each transition calls
    ``on_transition(old, new, reason)`` after the state has changed and outside the lock.
    Exceptions not matching ``counted`` (say, a 4xx the dependency answered correctly) pass
    through and count as a success: the dependency is up. A ``BaseException`` that is not an
    ``Exception`` (cancellation) counts as neither; it only frees its half-open slot.
    """

    def __init__(
        self,
        failure_threshold: int,
        reset_timeout_s: float,
        clock: Clock,
        on_transition: TransitionListener | None = None,
        *,
        name: str = "default",
        half_open_max_calls: int = 1,
        counted: ExceptionTypes = Exception,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        if not reset_timeout_s > 0:
            raise ValueError("reset_timeout_s must be positive")
        if half_open_max_calls < 1:
            raise ValueError("half_open_max_calls must be >= 1")
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = float(reset_timeout_s)
        self.name = name
        self._clock = clock
        self._listener = on_transition
        self._half_open_max = half_open_max_calls
        self._counted = counted
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probes = 0

    @property
    def state(self) -> BreakerState:
        """The state as of the last call (see the class docstring on laziness)."""
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def retry_after_s(self) -> float:
        """Seconds until an open circuit admits a probe; 0 when not open. In [0, timeout]."""
        with self._lock:
            return self._remaining()

    def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` through the breaker."""
        self._before()
        try:
            result = fn(*args, **kwargs)
        except BaseException as error:
            self._after(error)
            raise
        self._after(None)
        return result

    async def call_async(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Await ``fn()`` through the breaker (the lock is never held across the await)."""
        self._before()
        try:
            result = await fn()
        except BaseException as error:
            self._after(error)
            raise
        self._after(None)
        return result

    # -- state machine -------------------------------------------------------------------

    def _remaining(self) -> float:
        if self._state is not BreakerState.OPEN:
            return 0.0
        elapsed = self._clock.monotonic() - self._opened_at
        return min(self.reset_timeout_s, max(0.0, self.reset_timeout_s - elapsed))

    def _before(self) -> None:
        transitions: list[tuple[BreakerState, BreakerState, str]] = []
        refused: CircuitOpen | None = None
        with self._lock:
            if self._state is BreakerState.OPEN:
                if self._remaining() > 0:
                    refused = CircuitOpen(self.name, self._state, self._remaining())
                else:
                    transitions.append(self._move(BreakerState.HALF_OPEN, "reset_timeout_elapsed"))
            if refused is None and self._state is BreakerState.HALF_OPEN:
                if self._probes >= self._half_open_max:
                    refused = CircuitOpen(self.name, self._state, 0.0)
                else:
                    self._probes += 1
        self._notify(transitions)
        if refused is not None:
            raise refused

    def _after(self, error: BaseException | None) -> None:
        failed = error is not None and isinstance(error, self._counted)
        # Cancellation and interpreter exits say nothing about the dependency's health.
        neutral = not failed and error is not None and not isinstance(error, Exception)
        transitions: list[tuple[BreakerState, BreakerState, str]] = []
        with self._lock:
            if self._state is BreakerState.HALF_OPEN:
                self._probes = max(0, self._probes - 1)
                if neutral:
                    pass
                elif failed:
                    self._open()
                    transitions.append(self._move(BreakerState.OPEN, "probe_failed"))
                else:
                    self._failures = 0
                    transitions.append(self._move(BreakerState.CLOSED, "probe_succeeded"))
            elif self._state is BreakerState.CLOSED and not neutral:
                if failed:
                    self._failures += 1
                    if self._failures >= self.failure_threshold:
                        self._open()
                        transitions.append(
                            self._move(
                                BreakerState.OPEN,
                                f"failure_threshold_reached ({self._failures} consecutive)",
                            )
                        )
                else:
                    self._failures = 0
            # OPEN: a call admitted before another thread opened the circuit; its outcome is
            # stale evidence, so it changes nothing.
        self._notify(transitions)

    def _open(self) -> None:
        self._opened_at = self._clock.monotonic()
        self._probes = 0

    def _move(self, new: BreakerState, reason: str) -> tuple[BreakerState, BreakerState, str]:
        old, self._state = self._state, new
        return (old, new, reason)

    def _notify(self, transitions: list[tuple[BreakerState, BreakerState, str]]) -> None:
        if self._listener is None:
            return
        for old, new, reason in transitions:
            self._listener(old, new, reason)
