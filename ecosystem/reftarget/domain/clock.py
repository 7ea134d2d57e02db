"""The clock the domain reads: injected, never the module-level time functions.

Why: A3's stall detection and autonomy minutes, the breaker's reset timeout and every
``updated_at`` must be drivable by a hand-moved clock in tests and by the ``clock_offset_s``
fault in the running target. ``reftarget.core.clock.TargetClock`` fits this protocol
structurally, so the domain never imports core.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "SystemClock", "parse_instant", "rfc3339", "utc_now"]


class Clock(Protocol):
    """Wall time (timestamps, persisted instants) and monotonic time (in-process durations)."""

    def now(self) -> datetime:
        """The current wall time, timezone-aware (UTC)."""
        ...

    def time(self) -> float:
        """The current wall time in epoch seconds."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (not comparable across restarts)."""
        ...


class SystemClock:
    """The real clock, for callers that have nothing better (the apps pass TargetClock)."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


def utc_now(clock: Clock) -> datetime:
    """``clock.now()`` in UTC; a naive datetime is a wiring bug, so it raises."""
    moment = clock.now()
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("clock.now() must return a timezone-aware datetime")
    return moment.astimezone(UTC)


def rfc3339(moment: datetime) -> str:
    """RFC 3339 in UTC with a trailing ``Z`` (the form the contract's JSON uses)."""
    if moment.tzinfo is None:
        raise ValueError("cannot format a naive datetime as RFC 3339")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_instant(text: str) -> datetime:
    """Read back an instant written by :func:`rfc3339` (storage uses the same form)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"stored instant {text!r} has no timezone")
    return moment.astimezone(UTC)
