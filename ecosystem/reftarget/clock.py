"""The clock the reference target reads: injected, never the module-level time functions.

Why: idempotency TTLs, token and cookie times, event timestamps, A3's stall detection and
the breaker's reset timeout must all be drivable by a hand-moved clock in tests and by the
``clock_offset_s`` fault in the running target. ``reftarget.core.clock.TargetClock`` (real
time plus that offset) fits :class:`Clock` structurally, so ``domain``, ``identity`` and
``telemetry`` depend on this module and never on ``reftarget.core``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    """Wall time (timestamps, persisted instants) and monotonic time (in-process durations)."""

    def now(self) -> datetime:
        """The current wall time, timezone-aware (UTC)."""
        ...

    def time(self) -> float:
        """The current wall time in epoch seconds; moves together with :meth:`now`."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (not comparable across restarts)."""
        ...


class SystemClock:
    """The real clock, for callers that have nothing better (the apps pass ``TargetClock``)."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()
