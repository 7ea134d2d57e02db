"""The prober never blames a target for its own delays.

A probe's latency runs from its scheduled send, so when the harness falls behind (too
high a rate, a starved CPU, a busy event loop) its own delay lands in the target's
figures: it sends late, and it reads answers late. Each probe therefore carries the
harness's share of its latency: its send lag plus the loop stalls while it was in flight
(:mod:`.loop_stalls`). Every probe-source claim is then judged twice:

* as measured (the *pessimistic* view: every delay is the target's), which is what a
  PASS must survive: harness delays only ever make a target look worse;
* with the harness's share removed (the *forgiving* view: latency minus that share, and a
  timeout whose probe lost more than :data:`LATE_FRACTION_OF_TIMEOUT` of its budget to
  the harness is no error), which is what a FAIL must survive.

When the prober fell behind its own schedule (send lag p99 above
:data:`MAX_SEND_LAG_P99_MS`), a measured FAIL that the forgiving view does not confirm is
the harness's doing: the verdict is INCONCLUSIVE, ``HARNESS_SATURATED``, naming the rate
the prober held, never a FAIL of the target. A prober that kept its schedule keeps its
FAILs: the forgiving view over-forgives on a busy machine (a loop stall while a slow
answer was still on its way counts as the harness's), so it only speaks for a prober
known to be behind. A rate above the measured capacity (``perf/bench_prober.py``,
docs/perf.md) is refused before the run: such a run could only measure the harness.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from secondconf.checks.liveness.loop_stalls import LoopStalls
from secondconf.checks.liveness.prober import ProbeSample
from secondconf.engine.verdict import Outcome, Reason, Verdict
from secondconf.engine.window import Observation
from secondconf.settings import PROBER_CAPACITY_PER_S

LATE_FRACTION_OF_TIMEOUT: Final = 0.1
MAX_SEND_LAG_P99_MS: Final = 20.0  # a sixth of the 120 ms SLO; the bench holds ~1-5 ms


class ProberCapacityError(ValueError):
    """A run asks the prober for more probes per second than it is known to hold."""


def refuse_above_capacity(rate_per_target: float, n_targets: int) -> None:
    """Raise :class:`ProberCapacityError` (one line) when ``rate × targets`` is above
    :data:`PROBER_CAPACITY_PER_S`."""
    total = rate_per_target * n_targets
    if total > PROBER_CAPACITY_PER_S:
        raise ProberCapacityError(
            f"probe rate {rate_per_target:g}/s × {n_targets} routes = {total:g} probes/s, "
            f"above the prober's measured capacity of {PROBER_CAPACITY_PER_S:g} probes/s "
            "(docs/perf.md): lower --probe-rate or probe fewer apps"
        )


def harness_share_s(sample: ProbeSample, stalls: LoopStalls) -> float:
    """The part of a probe's latency that was the harness's: sent late, or read late."""
    return max(0.0, sample.send_lag_s) + stalls.within(sample.sent_at, sample.finished_at)


def forgiving_observation(sample: ProbeSample, stalls: LoopStalls, timeout_s: float) -> Observation:
    """The probe with the harness's share of its latency removed; a timeout the harness
    ate into by more than :data:`LATE_FRACTION_OF_TIMEOUT` of its budget is no error."""
    share = harness_share_s(sample, stalls)
    failed = sample.failed
    if sample.error == "timeout" and share > LATE_FRACTION_OF_TIMEOUT * timeout_s:
        failed = False
    latency_ms = max(0.0, sample.latency_ms - share * 1000.0)
    return Observation(at=sample.scheduled_at, failed=failed, latency_ms=latency_ms)


@dataclass(frozen=True)
class HarnessLoad:
    """How well the prober kept its schedule over the judged window (every app)."""

    probes: int
    send_lag_p50_ms: float
    send_lag_p99_ms: float
    share_p99_ms: float  # the harness's share of a probe's latency (send + read), p99
    loop_stalls: int
    offered_per_s: float
    held_per_s: float
    cpu_ms_per_probe: float | None

    @property
    def behind(self) -> bool:
        """The prober did not keep its schedule (its send lag p99 is above the bound)."""
        return self.send_lag_p99_ms > MAX_SEND_LAG_P99_MS

    def to_dict(self) -> dict[str, Any]:
        return {
            "behind_schedule": self.behind,
            "max_send_lag_p99_ms": MAX_SEND_LAG_P99_MS,
            "probes": self.probes,
            "send_lag_p50_ms": round(self.send_lag_p50_ms, 3),
            "send_lag_p99_ms": round(self.send_lag_p99_ms, 3),
            "harness_share_p99_ms": round(self.share_p99_ms, 3),
            "loop_stalls": self.loop_stalls,
            "offered_per_s": self.offered_per_s,
            "held_per_s": round(self.held_per_s, 1),
            "cpu_ms_per_probe": (
                None if self.cpu_ms_per_probe is None else round(self.cpu_ms_per_probe, 3)
            ),
        }


def measure_load(
    samples: Sequence[ProbeSample],
    stalls: LoopStalls,
    *,
    offered_per_s: float,
    cpu_s: float | None = None,
) -> HarnessLoad:
    """The harness's own figures over ``samples``; ``held_per_s`` is the rate it really
    sent at (probes over the span from the first scheduled time to the last send)."""
    if not samples:
        return HarnessLoad(0, 0.0, 0.0, 0.0, stalls.count, offered_per_s, 0.0, None)
    lags = sorted(s.send_lag_s * 1000.0 for s in samples)
    shares = sorted(harness_share_s(s, stalls) * 1000.0 for s in samples)
    span = max(s.sent_at for s in samples) - min(s.scheduled_at for s in samples)
    held = offered_per_s if span <= 0 else min(offered_per_s, len(samples) / span)
    return HarnessLoad(
        probes=len(samples),
        send_lag_p50_ms=_quantile(lags, 0.5),
        send_lag_p99_ms=_quantile(lags, 0.99),
        share_p99_ms=_quantile(shares, 0.99),
        loop_stalls=stalls.count,
        offered_per_s=offered_per_s,
        held_per_s=held,
        cpu_ms_per_probe=None if cpu_s is None else cpu_s * 1000.0 / len(samples),
    )


def forgive_harness(measured: Verdict, forgiving: Verdict, load: HarnessLoad) -> Verdict:
    """The probe verdict to record: ``measured``, unless the prober was behind its
    schedule and ``measured`` FAILs where ``forgiving`` (the same claim with the harness's
    share removed) does not: then INCONCLUSIVE."""
    details = {
        **measured.details,
        "harness": load.to_dict(),
        "forgiving_estimate": forgiving.estimate,
        "forgiving_outcome": forgiving.outcome.value,
    }
    if not load.behind or measured.outcome is not Outcome.FAIL:
        return replace(measured, details=details)
    if forgiving.outcome is Outcome.FAIL:
        return replace(measured, details=details)
    return replace(
        measured,
        outcome=Outcome.INCONCLUSIVE,
        reason=Reason.HARNESS_SATURATED,
        details={
            **details,
            "explanation": (
                f"FAIL only with the harness's own delays counted (its share p99 "
                f"{load.share_p99_ms:.1f} ms, send lag p99 {load.send_lag_p99_ms:.1f} ms, "
                f"{load.loop_stalls} loop stalls); without them {forgiving.outcome.value}: "
                f"the prober held {load.held_per_s:.0f} of {load.offered_per_s:g} probes/s"
            ),
        },
    )


def _quantile(ordered: Sequence[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]
