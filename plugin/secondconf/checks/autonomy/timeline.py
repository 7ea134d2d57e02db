"""How the autonomy scenario makes A3's time pass: by moving its clock, or by waiting.

Both drivers answer the same two questions, so the scenario and its judging are one piece
of code for the gate (virtual minutes in seconds of wall time) and for the real soak:
``advance(seconds)`` lets that much of A3's time pass, and ``offset_s`` says how far A3's
clock is ahead of real time now (what turns an event's timestamp back into the real moment
it was emitted, so its delivery latency to A8 can be measured).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Final, Protocol

from secondconf.core.progress import ProgressReport, ProgressThrottle
from secondconf.target.control import TargetControl

CLOCK_APP: Final = "A3"  # the app whose clock the autonomy scenario moves
SLICE_S: Final = 1.0  # the real soak waits in slices this long


class Timeline(Protocol):
    """A3's time, as the scenario drives it."""

    @property
    def virtual(self) -> bool: ...

    @property
    def offset_s(self) -> float: ...

    async def advance(self, seconds: float) -> None: ...

    def restore(self) -> None: ...


@dataclass
class MovedClock:
    """A3's clock moved ahead through the target's control (each move logged as an action);
    :meth:`restore` puts it back (call it in a ``finally``)."""

    control: TargetControl
    offset_s: float = 0.0
    moved: bool = field(default=False, repr=False)

    @property
    def virtual(self) -> bool:
        return True

    async def advance(self, seconds: float) -> None:
        self.offset_s += seconds
        self.moved = True
        self.control.set_faults(CLOCK_APP, {"clock_offset_s": self.offset_s})

    def restore(self) -> None:
        if self.moved:
            self.control.reset_clock(CLOCK_APP)
            self.moved = False


@dataclass
class RealTime:
    """A3's time is real time: advancing waits (the soak), in slices of at most a second,
    with a progress line at least every 10 s when ``progress`` is given (a 200-minute soak
    would otherwise print nothing for ten minutes at a time)."""

    offset_s: float = 0.0
    progress: ProgressThrottle | None = None
    total_s: float = 0.0  # the soak's planned length, for "remaining"
    waited_s: float = field(default=0.0, repr=False)

    @property
    def virtual(self) -> bool:
        return False

    async def advance(self, seconds: float) -> None:
        end = self.waited_s + seconds
        while self.waited_s < end:
            step = min(SLICE_S, end - self.waited_s)
            await asyncio.sleep(step)
            self.waited_s += step
            if self.progress is not None and self.progress.due():
                self.progress.emit(
                    ProgressReport(
                        "autonomy soak (A3 in real time)",
                        self.waited_s,
                        max(self.total_s, self.waited_s),
                        samples=0,
                        estimates={"A3": "cycles are judged at the end of the soak"},
                    )
                )

    def restore(self) -> None:
        """Nothing was moved."""
