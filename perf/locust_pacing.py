"""Users in step measure a burst queue: each user keeps its own random phase of the period.

locust 2.x's ``constant_throughput`` paces every user from the moment it was spawned, and a
spawn batch's users are spawned together, so N users at one rate run in step for the whole
run: every period opens with N requests at once, then nothing. That measures how long the
last of a burst waits, not the rate asked for: B2B-03's 8 users at 0.5 iterations/s all
billed within 3 ms of each other every 2 s, and the embedded A6 answered billing in 26 ms
(p50, its own telemetry) instead of 7 ms. k6's ``constant-arrival-rate`` spreads
iterations over time; here each user starts at a uniform random phase of its period (so
the users' starts are spread, independently on every worker of a distributed run) and then
keeps it, one iteration per period. A late iteration delays the next start to one period
after it: no catch-up burst. Used by :mod:`locust_synthetic`; needs no locust.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Pacer:
    """One user's iteration clock: ``wait_s()`` before each iteration, the first included."""

    period_s: float
    next_start: float
    clock: Callable[[], float] = field(default=time.perf_counter, repr=False)

    @classmethod
    def at_random_phase(
        cls,
        rate_per_user: float,
        *,
        clock: Callable[[], float] = time.perf_counter,
        phase: Callable[[float, float], float] = random.uniform,
    ) -> Pacer:
        """A pacer whose first iteration is due a uniform random part of a period from now."""
        if rate_per_user <= 0:
            raise ValueError(f"rate_per_user must be positive, got {rate_per_user!r}")
        period_s = 1.0 / rate_per_user
        return cls(period_s, clock() + phase(0.0, period_s), clock)

    def wait_s(self) -> float:
        """Seconds until the next iteration is due (0 if it is late); then the one after."""
        now = self.clock()
        wait = max(0.0, self.next_start - now)
        self.next_start = max(self.next_start, now) + self.period_s
        return wait
