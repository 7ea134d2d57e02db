"""Progress of a long phase: one line at least every 10 s, never more often.

A 15-minute window, a soak or a load run would otherwise print nothing for minutes. The
measuring code builds a :class:`ProgressReport` when :meth:`ProgressThrottle.due` says a
line is due; what happens to the line (the terminal, nothing under ``-q``) is the caller's
sink. Time comes from the caller's monotonic clock, so tests move it by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

EVERY_S: Final = 10.0


@dataclass(frozen=True)
class ProgressReport:
    """Where a phase stands: its part, time elapsed of the total, samples, estimates."""

    phase: str  # e.g. "liveness window"
    elapsed_s: float
    total_s: float
    samples: int
    estimates: Mapping[str, str] = field(default_factory=dict)  # per subject, short text

    def line(self) -> str:
        remaining = max(0.0, self.total_s - self.elapsed_s)
        head = (
            f"secondconf progress: {self.phase} {_clock(self.elapsed_s)}/{_clock(self.total_s)}"
            f" (remaining {_clock(remaining)}), {self.samples:,} samples"
        )
        return "; ".join([head, *(f"{k} {v}" for k, v in self.estimates.items())])


def _clock(seconds: float) -> str:
    whole = int(seconds)
    minutes, secs = divmod(whole, 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class ProgressThrottle:
    """Passes a report's line to ``emit`` when ``every_s`` has passed since the last one."""

    def __init__(
        self, emit: Callable[[str], None], monotonic: Callable[[], float], every_s: float = EVERY_S
    ) -> None:
        self._emit = emit
        self._monotonic = monotonic
        self._every_s = every_s
        self._last = monotonic()

    def due(self) -> bool:
        return self._monotonic() - self._last >= self._every_s

    def emit(self, report: ProgressReport) -> None:
        self._last = self._monotonic()
        self._emit(report.line())
