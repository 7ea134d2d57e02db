"""A service-to-service dependency behind error correction (contract §8, §13).

A call to the dependency is retried with full jitter (the delay before retry ``n``, counted
from 1, is uniform in ``[0, min(cap, base · 2^(n-1))]``), and the whole retried call runs
through a circuit breaker (closed → open → half-open on a probe call → closed). Both read
the app's injected clock (the breaker's reset timeout is crossed by the ``clock_offset_s``
fault); the waits themselves are real, so they protect the dependency.

What A8 sees: every retry emits ``retry_attempted`` with ``data`` {attempt, delay_ms,
dependency, base_ms, cap_ms} (base and cap are the policy the delay was drawn under, so a
reader can normalise it), and every breaker transition ``circuit_opened`` /
``circuit_half_opened`` / ``circuit_closed`` with ``data`` {dependency, from, to}. Events
carry the trace id, tenant and tags of the request that made the call, and no
idempotency key (one request may retry many times; A8 keeps each by its ``event_id``).

Fault switches (``disabled_rules``): ``retry_jitter`` off waits the whole ceiling,
``retry_cap`` off lets the backoff double past its cap, ``breaker_opens`` off counts
failures but never opens the circuit.
"""

from __future__ import annotations

import contextvars
import random
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, TypeVar

from reftarget.core.app import AppRuntime
from reftarget.core.context import RequestContext
from reftarget.domain import Backoff, BreakerState, CircuitBreaker, retry_call_async
from reftarget.domain.resilience import ExceptionTypes, RetryAttempt

T = TypeVar("T")

UNCAPPED_S: Final = 3600.0  # the "cap" of a backoff whose retry_cap rule is off
TRANSITION_EVENTS: Final = {
    BreakerState.OPEN: "circuit_opened",
    BreakerState.HALF_OPEN: "circuit_half_opened",
    BreakerState.CLOSED: "circuit_closed",
}
# The contract's spelling of the states (§8: "closed → open → half-open → closed").
STATE_NAMES: Final = {
    BreakerState.CLOSED: "closed",
    BreakerState.OPEN: "open",
    BreakerState.HALF_OPEN: "half-open",
}


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts in all (first try included), backoff base and cap, and the breaker's
    consecutive failures to open and seconds open before a probe."""

    attempts: int
    base_s: float
    cap_s: float
    breaker_failures: int
    breaker_reset_s: float


class GuardedDependency:
    """One dependency of one app, with its retries, breaker and telemetry."""

    def __init__(
        self,
        runtime: AppRuntime,
        dependency: str,
        route: str,
        policy: RetryPolicy,
        *,
        counted: ExceptionTypes,
        retry_on: ExceptionTypes,
        rng: random.Random | None = None,
    ) -> None:
        self.runtime = runtime
        self.dependency = dependency
        self.route = route
        self.policy = policy
        self.retry_on = retry_on
        self._rng = rng if rng is not None else random.Random()
        self._current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
            f"{dependency}_caller", default=None
        )
        self.breaker = CircuitBreaker(
            policy.breaker_failures,
            policy.breaker_reset_s,
            runtime.clock,
            self._on_transition,
            name=f"{runtime.app_id}->{dependency}",
            counted=counted,
        )

    def backoff(self) -> Backoff:
        """The backoff of the next call, as the fault switches have it now."""
        faults = self.runtime.faults
        cap_s = self.policy.cap_s if faults.rule_enabled("retry_cap") else UNCAPPED_S
        jitter = "full" if faults.rule_enabled("retry_jitter") else "none"
        return Backoff(self.policy.base_s, cap_s, jitter, rng=self._rng)

    async def call(self, context: RequestContext, attempt: Callable[[], Awaitable[T]]) -> T:
        """``attempt()`` with retries, through the breaker, on behalf of ``context``."""
        never_opens = not self.runtime.faults.rule_enabled("breaker_opens")
        self.breaker.failure_threshold = (
            sys.maxsize if never_opens else self.policy.breaker_failures
        )
        backoff = self.backoff()

        def on_retry(retry: RetryAttempt) -> None:
            self._emit(
                context,
                "retry_attempted",
                {
                    "attempt": retry.attempt,
                    "delay_ms": round(retry.delay_s * 1000, 3),
                    "dependency": self.dependency,
                    "base_ms": self.policy.base_s * 1000,
                    "cap_ms": self.policy.cap_s * 1000,
                },
            )

        token = self._current.set(context)
        try:
            return await self.breaker.call_async(
                lambda: retry_call_async(
                    attempt,
                    attempts=self.policy.attempts,
                    backoff=backoff,
                    retry_on=self.retry_on,
                    on_retry=on_retry,
                )
            )
        finally:
            self._current.reset(token)

    def _on_transition(self, old: BreakerState, new: BreakerState, reason: str) -> None:
        context = self._current.get()
        if context is not None:
            data = {"dependency": self.dependency, "from": STATE_NAMES[old], "to": STATE_NAMES[new]}
            self._emit(context, TRANSITION_EVENTS[new], data)

    def _emit(self, context: RequestContext, event: str, data: dict[str, object]) -> None:
        self.runtime.events.background(
            event,
            route=self.route,
            trace_id=context.trace_id,
            tags=context.tags,
            tenant_id=context.tenant_id,
            data=data,
        )
