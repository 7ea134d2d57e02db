"""Progress of a funnel's journeys: a line at least every 10 s while they run.

A funnel phase has no fixed length: its journeys take as long as the browser and the
target take. The line says how many journeys are done of the total, how many passed,
and the lower two-sided Wilson 95 % limit of the success rate so far (the figure the
signup rule judges once every journey is done); the time to go is estimated from the
pace so far. A line may come when a journey ends, and a ticker asks every second, so
one comes even while no journey ends; the throttle keeps them at least 10 s apart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Final

from secondconf.core.clock import Clock
from secondconf.core.progress import ProgressReport, ProgressThrottle
from secondconf.engine.stats import wilson_interval

TICK_S: Final = 1.0


class JourneyTally:
    """Journeys done and passed so far, out of ``total``; ``progress`` (None: quiet) gets
    the line whenever one is due."""

    def __init__(
        self, phase: str, total: int, clock: Clock, progress: ProgressThrottle | None = None
    ) -> None:
        self.phase = phase
        self.total = total
        self.done = 0
        self.passed = 0
        self._clock = clock
        self._progress = progress
        self._started = clock.monotonic()

    def record(self, passed: bool) -> None:
        self.done += 1
        self.passed += passed
        self.report_if_due()

    def report_if_due(self) -> None:
        if self._progress is not None and self._progress.due():
            self._progress.emit(self.report())

    def report(self) -> ProgressReport:
        elapsed = self._clock.monotonic() - self._started
        # The time to go at the pace so far; before the first journey ends, none is known.
        total_s = elapsed * self.total / self.done if self.done else elapsed
        estimates = {
            "journeys": f"{self.done}/{self.total} done",
            "passed": f"{self.passed}/{self.done}",
        }
        if self.done:
            lower = wilson_interval(self.passed, self.done)[0]
            estimates["success lower bound"] = f"{lower:.4f}"
        return ProgressReport(self.phase, elapsed, total_s, self.done, estimates)

    @contextlib.asynccontextmanager
    async def ticking(self, tick_s: float = TICK_S) -> AsyncIterator[JourneyTally]:
        """While the block runs, a line whenever one is due, journeys ending or not."""
        if self._progress is None:
            yield self
            return

        async def tick() -> None:
            while True:
                await asyncio.sleep(tick_s)
                self.report_if_due()

        ticker = asyncio.create_task(tick())
        try:
            yield self
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
