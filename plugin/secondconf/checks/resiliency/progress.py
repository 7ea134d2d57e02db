"""Progress of the drills: a line at least every 10 s naming the drill and its step.

The drills run for a minute or two with windows, restarts and recovery polls in turn, and
would otherwise print nothing until the end. :class:`DrillProgress` knows where they
stand (which drill, which step, since when) and counts the probes judged so far; its
ticker hands a line to the throttle whenever one is due (the throttle decides: at least
every 10 s, never more often), also while a restart or a rollback runs in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Final

from secondconf.core.clock import Clock
from secondconf.core.progress import ProgressReport, ProgressThrottle

TICK_S: Final = 1.0
"""How often the ticker asks the throttle whether a line is due."""


class DrillProgress:
    """Where the drills stand; ``throttle`` None keeps them quiet (``-q``)."""

    def __init__(
        self,
        throttle: ProgressThrottle | None,
        clock: Clock,
        planned_s: float,  # the probe windows' time; A8's reads come on top
        tick_s: float = TICK_S,
    ) -> None:
        self._throttle = throttle
        self._clock = clock
        self._planned_s = planned_s
        self._tick_s = tick_s
        self._started = clock.monotonic()
        self._drill = "none yet"
        self._step = "steady state"
        self._step_since = self._started
        self.probes = 0

    def drill(self, label: str) -> None:
        """A drill begins (``label``: its rule, app and fault)."""
        self._drill = label

    def step(self, name: str) -> None:
        """The current drill enters step ``name`` (inject, detect/contain, recover…)."""
        self._step, self._step_since = name, self._clock.monotonic()
        self.tick()

    def judged(self, probes: int) -> None:
        """A window ended with ``probes`` probes judged."""
        self.probes += probes

    def report(self) -> ProgressReport:
        now = self._clock.monotonic()
        return ProgressReport(
            phase="resiliency drills",
            elapsed_s=now - self._started,
            total_s=self._planned_s,
            samples=self.probes,
            estimates={
                "drill": self._drill,
                "step": f"{self._step} for {int(now - self._step_since)} s",
            },
        )

    def tick(self) -> None:
        if self._throttle is not None and self._throttle.due():
            self._throttle.emit(self.report())

    @contextlib.asynccontextmanager
    async def ticking(self) -> AsyncIterator[DrillProgress]:
        """Tick every ``tick_s`` while the body runs."""

        async def ticker() -> None:
            while True:
                await asyncio.sleep(self._tick_s)
                self.tick()

        task = asyncio.ensure_future(ticker())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
