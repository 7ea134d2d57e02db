"""Whether the prober kept its own schedule: a harness that lags must not blame the target.

The prober's latency runs from each probe's *scheduled* time, so when the harness's own
event loop falls behind (too high a rate, a starved CPU), every late send looks like a
slow or timed-out target. Each run therefore measures its own scheduling lag
(``sent_at - scheduled_at``) and CPU time, and is judged against two stated bounds:

* a probe sent more than :data:`LATE_FRACTION_OF_TIMEOUT` of its timeout late (200 ms at
  the default 2 s) is *late*: it never counts as the target's error or latency;
* the run is *saturated* when the window's p99 lag is above :data:`MAX_LAG_P99_MS`
  (20 ms), or any of its probes was late. Then the probe source cannot tell the target's
  delays from its own, and its verdicts are INCONCLUSIVE (``HARNESS_SATURATED``), naming
  the rate the prober did hold, never a FAIL of the target.

Below both bounds at most 1 % of probes carry more than 20 ms of the harness's own lag and
none more than 200 ms: small against the 120 ms latency threshold, and a probe keeps at
least 90 % of its timeout. The measured capacity (docs/perf.md, ``perf/bench_prober.py``)
is where :data:`PROBER_CAPACITY_PER_S` comes from: a run asking more is refused before it
starts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from secondconf.checks.liveness.prober import ProbeSample
from secondconf.engine.verdict import Outcome, Reason, Verdict

MAX_LAG_P99_MS: Final = 20.0
LATE_FRACTION_OF_TIMEOUT: Final = 0.1
PROBER_CAPACITY_PER_S: Final = 300.0
"""Total probes per second (over every app and route) the prober holds with its lag p99
under :data:`MAX_LAG_P99_MS`, measured by perf/bench_prober.py (docs/perf.md)."""


class ProberCapacityError(ValueError):
    """A run asks the prober for more probes per second than it is known to hold."""


def refuse_above_capacity(rate_per_target: float, n_targets: int) -> None:
    """Raise :class:`ProberCapacityError` (one line) when ``rate × targets`` is above
    :data:`PROBER_CAPACITY_PER_S`: such a run could only measure the harness."""
    total = rate_per_target * n_targets
    if total > PROBER_CAPACITY_PER_S:
        raise ProberCapacityError(
            f"probe rate {rate_per_target:g}/s × {n_targets} routes = {total:g} probes/s, "
            f"above the prober's measured capacity of {PROBER_CAPACITY_PER_S:g} probes/s: "
            "lower --probe-rate or probe fewer apps"
        )


def late_after_s(timeout_s: float) -> float:
    """How late (seconds after its scheduled time) a probe may be sent and still count."""
    return LATE_FRACTION_OF_TIMEOUT * timeout_s


def sent_late(sample: ProbeSample, timeout_s: float) -> bool:
    """The harness sent this probe too late for its outcome to be the target's."""
    return sample.sent_at - sample.scheduled_at > late_after_s(timeout_s)


@dataclass(frozen=True)
class HarnessLoad:
    """The prober's own figures over the judged window: how well it kept its schedule."""

    probes: int
    late: int
    lag_p50_ms: float
    lag_p99_ms: float
    offered_per_s: float
    held_per_s: float
    cpu_ms_per_probe: float | None

    @property
    def saturated(self) -> bool:
        return self.late > 0 or self.lag_p99_ms > MAX_LAG_P99_MS

    def to_dict(self) -> dict[str, Any]:
        return {
            "probes": self.probes,
            "late": self.late,
            "lag_p50_ms": self.lag_p50_ms,
            "lag_p99_ms": self.lag_p99_ms,
            "max_lag_p99_ms": MAX_LAG_P99_MS,
            "offered_per_s": self.offered_per_s,
            "held_per_s": self.held_per_s,
            "cpu_ms_per_probe": self.cpu_ms_per_probe,
            "saturated": self.saturated,
        }

    def explanation(self) -> str:
        return (
            f"the prober fell behind its own schedule (lag p99 {self.lag_p99_ms:.1f} ms, "
            f"bound {MAX_LAG_P99_MS:g} ms; {self.late} of {self.probes} probes sent late): "
            f"it held {self.held_per_s:.0f} of {self.offered_per_s:g} probes/s offered"
        )


def measure_load(
    samples: Sequence[ProbeSample],
    *,
    offered_per_s: float,
    timeout_s: float,
    cpu_s: float | None = None,
) -> HarnessLoad:
    """The harness's load over ``samples`` (the judged window's probes, every app).

    ``held_per_s`` is the rate the prober actually sent at: the probes over the span from
    the first one's scheduled time to the last one's send. ``cpu_s`` is the prober
    process's CPU time over the run, when known.
    """
    if not samples:
        return HarnessLoad(0, 0, 0.0, 0.0, offered_per_s, 0.0, None)
    lags = sorted((s.sent_at - s.scheduled_at) * 1000.0 for s in samples)
    span = max(s.sent_at for s in samples) - min(s.scheduled_at for s in samples)
    held = offered_per_s if span <= 0 else min(offered_per_s, len(samples) / span)
    return HarnessLoad(
        probes=len(samples),
        late=sum(sent_late(s, timeout_s) for s in samples),
        lag_p50_ms=_quantile(lags, 0.5),
        lag_p99_ms=_quantile(lags, 0.99),
        offered_per_s=offered_per_s,
        held_per_s=held,
        cpu_ms_per_probe=None if cpu_s is None else cpu_s * 1000.0 / len(samples),
    )


def blame_harness(verdict: Verdict, load: HarnessLoad) -> Verdict:
    """A probe-source verdict, with the harness's load in its details and, when the
    harness was saturated, INCONCLUSIVE (``HARNESS_SATURATED``) instead of its outcome."""
    details = {**verdict.details, "harness": load.to_dict()}
    if not load.saturated:
        return replace(verdict, details=details)
    return replace(
        verdict,
        outcome=Outcome.INCONCLUSIVE,
        reason=Reason.HARNESS_SATURATED,
        details={**details, "error": load.explanation(), "judged_outcome": verdict.outcome.value},
    )


def _quantile(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank q-quantile of sorted values."""
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]
