"""The clock identity needs: wall time for cookie dates, epoch seconds for token times.

A structural type so that ``reftarget.core.clock.TargetClock`` (real time plus the
``clock_offset_s`` fault) fits without identity importing core, and tests can pass a
clock they move by hand.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """Wall time in two forms; both must move together."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    def time(self) -> float:
        """The current time in epoch seconds."""
        ...
