"""Injectable clocks: real runs use real time, tests move time by hand.

Every piece of time-dependent logic (windows, TTLs, approval expiry, backoff) takes a
``Clock`` instead of calling ``time`` directly, so tests are fast and exact.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """A source of wall time (for timestamps) and monotonic time (for durations)."""

    def now(self) -> datetime:
        """The current wall time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to; wall and monotonic time advance together."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or datetime(2026, 1, 1, tzinfo=UTC)
        if self._start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._elapsed = 0.0

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._elapsed += seconds


def utc_iso(moment: datetime) -> str:
    """RFC 3339 UTC with a trailing ``Z`` (the form every report and log uses)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
