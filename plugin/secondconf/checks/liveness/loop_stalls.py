"""The prober's own event loop, watched: when was it too busy (or starved) to keep time?

A probe's latency runs from its scheduled send to the end of its answer, so a harness
that falls behind adds its own delay twice: sending late, and reading an answer that sat
in the socket while the loop was busy. The send lag is on every sample
(``sent_at - scheduled_at``); the reading side is measured here, as Node's event-loop-lag
monitors do: a task asks to wake every ``tick_s`` and records, each time it wakes late,
the stretch during which the loop could not have run anything else. Any probe in flight
over such a stretch may have waited that long on the harness, not on the target.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
from collections.abc import Callable
from types import TracebackType
from typing import Final

TICK_S: Final = 0.005
MIN_STALL_S: Final = 0.002  # wakeups later than this count (below: timer noise)


class LoopStalls:
    """Use as ``async with LoopStalls(clock.monotonic) as stalls`` around the probes."""

    def __init__(
        self,
        monotonic: Callable[[], float],
        tick_s: float = TICK_S,
        min_stall_s: float = MIN_STALL_S,
    ) -> None:
        self._monotonic = monotonic
        self._tick_s = tick_s
        self._min_stall_s = min_stall_s
        self._starts: list[float] = []
        self._ends: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LoopStalls:
        self._task = asyncio.create_task(self._watch(), name="secondconf-loop-stalls")
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _watch(self) -> None:
        while True:
            asked = self._monotonic() + self._tick_s
            await asyncio.sleep(self._tick_s)
            woke = self._monotonic()
            if woke - asked > self._min_stall_s:
                self._starts.append(asked)
                self._ends.append(woke)

    @property
    def count(self) -> int:
        return len(self._starts)

    def within(self, start: float, end: float) -> float:
        """Seconds of recorded stall overlapping ``[start, end]``."""
        if end <= start:
            return 0.0
        total = 0.0
        # Stalls are recorded in time order and never overlap (one watcher, sequential).
        first = max(0, bisect.bisect_right(self._ends, start))
        for index in range(first, len(self._starts)):
            stall_start, stall_end = self._starts[index], self._ends[index]
            if stall_start >= end:
                break
            total += min(end, stall_end) - max(start, stall_start)
        return max(0.0, total)
