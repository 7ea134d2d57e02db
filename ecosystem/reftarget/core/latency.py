"""Rolling per-route p95 latency, for the ``p95_ms`` field of every event (contract §6).

A fixed window of the most recent requests per route (not a time window): cheap, bounded
memory, and meaningful from the first requests on.
"""

from __future__ import annotations

import math
from collections import deque

WINDOW = 512


class RollingLatency:
    """Keeps the last ``WINDOW`` latencies of each route."""

    def __init__(self, window: int = WINDOW) -> None:
        self._window = window
        self._samples: dict[str, deque[float]] = {}

    def record(self, route: str, latency_ms: float) -> None:
        samples = self._samples.get(route)
        if samples is None:
            samples = self._samples[route] = deque(maxlen=self._window)
        samples.append(latency_ms)

    def p95(self, route: str) -> float | None:
        """Nearest-rank p95 of the window, ``None`` before the route's first request."""
        samples = self._samples.get(route)
        if not samples:
            return None
        ordered = sorted(samples)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
