"""The target's clock: real time plus an offset that the ``clock_offset_s`` fault sets.

Every TTL, lock expiry and time window in the reference target reads this clock, so a
test can cross a 15-minute idempotency TTL by moving the offset instead of sleeping.
``TargetClock`` is the :class:`reftarget.clock.Clock` every app injects into the packages.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class TargetClock:
    """Wall and monotonic time shifted by the same adjustable offset (seconds).

    ``monotonic()`` is monotonic only while the offset is unchanged or grows; clearing
    the fault moves it back, which is what a test that set it asked for.
    """

    def __init__(self, offset_s: float = 0.0) -> None:
        self._offset_s = float(offset_s)

    @property
    def offset_s(self) -> float:
        """The current offset in seconds (0 when no fault is set)."""
        return self._offset_s

    def set_offset(self, seconds: float) -> None:
        """Shift every reading by ``seconds`` from now on (replaces the previous offset)."""
        self._offset_s = float(seconds)

    def time(self) -> float:
        """Epoch seconds, offset applied."""
        return time.time() + self._offset_s

    def now(self) -> datetime:
        """Timezone-aware UTC wall time, offset applied."""
        return datetime.now(UTC) + timedelta(seconds=self._offset_s)

    def monotonic(self) -> float:
        """Seconds on the monotonic clock, offset applied."""
        return time.monotonic() + self._offset_s
