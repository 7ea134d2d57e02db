"""The stable window: discard a burn-in, then judge a fixed window once, or continuously.

Two honest ways to look at a window (stat-gating §4.3): ``fixed`` judges once, at the
window's end, with fixed-n bounds; ``sequential`` feeds every observation to an
anytime-valid likelihood-ratio test and may stop early with its error still ≤ α.
Looking at fixed-n bounds during the window (peeking) is what neither mode does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from secondconf.core.clock import Clock, utc_iso
from secondconf.engine.sequential import SequentialBernoulliTest, SequentialMonitor
from secondconf.engine.verdict import (
    DecisionMethod,
    Timeslice,
    Verdict,
    Window,
    judge_quantile,
    judge_rate,
    judge_sequential,
)


class GatingMode(StrEnum):
    FIXED = "fixed"
    SEQUENTIAL = "sequential"


@dataclass(frozen=True)
class SloThresholds:
    """The claims judged over a window: error rate below ``max_error_rate`` and the
    ``latency_quantile`` at most ``max_latency_ms``."""

    max_error_rate: float = 0.01
    max_latency_ms: float = 120.0
    latency_quantile: float = 0.95


@dataclass(frozen=True)
class Observation:
    """One probe: when it was scheduled (monotonic seconds), whether it failed, its latency."""

    at: float
    failed: bool
    latency_ms: float


class StableWindowEvaluator:
    """Collects observations against a burn-in and a window that start when it is made.

    Observations before ``burn_in_s`` has elapsed are counted and discarded; those after
    the window's end are ignored. :meth:`verdicts` returns the error-rate and latency
    verdicts; :attr:`decided` says whether a sequential run may stop early.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        burn_in_s: float,
        window_s: float,
        mode: GatingMode = GatingMode.FIXED,
        thresholds: SloThresholds = SloThresholds(),
        method: DecisionMethod = "wilson",
        confidence: float = 0.95,
        slice_s: float = 60.0,
        subject: str | None = None,
        source: str = "probe",
    ) -> None:
        if burn_in_s < 0 or window_s <= 0 or slice_s <= 0:
            raise ValueError("burn_in_s must be >= 0, window_s and slice_s > 0")
        self._clock = clock
        self._t0 = clock.monotonic()
        self._wall0 = clock.now()
        self.burn_in_s = burn_in_s
        self.window_s = window_s
        self.mode = mode
        self.thresholds = thresholds
        self.method = method
        self.confidence = confidence
        self.slice_s = slice_s
        self.subject = subject
        self.source = source
        self.burn_in_samples = 0
        self._observations: list[Observation] = []
        alpha = 1 - confidence
        self._error_test = SequentialBernoulliTest(thresholds.max_error_rate, alpha)
        self._slow_test = SequentialBernoulliTest(1 - thresholds.latency_quantile, alpha)
        self._error_monitor = SequentialMonitor(self._error_test)
        self._slow_monitor = SequentialMonitor(self._slow_test)

    @property
    def window_start(self) -> float:
        return self._t0 + self.burn_in_s

    @property
    def window_end(self) -> float:
        return self.window_start + self.window_s

    @property
    def complete(self) -> bool:
        """The window has ended, or (sequential mode) both tests have stopped."""
        return self._clock.monotonic() >= self.window_end or self.decided

    @property
    def decided(self) -> bool:
        """Sequential mode may stop: one claim has FAILed (the subject fails whatever the
        other shows), or every claim has PASSed."""
        if self.mode is not GatingMode.SEQUENTIAL:
            return False
        decisions = {self._error_monitor.decision, self._slow_monitor.decision}
        return "FAIL" in decisions or decisions == {"PASS"}

    @property
    def observed(self) -> tuple[Observation, ...]:
        """The window's observations so far (progress lines; verdicts come from
        :meth:`verdicts`)."""
        return tuple(self._observations)

    def observe(self, observation: Observation) -> None:
        if observation.at < self.window_start:
            self.burn_in_samples += 1
            return
        if observation.at >= self.window_end:
            return
        self._observations.append(observation)
        if self.mode is GatingMode.SEQUENTIAL:
            self._error_monitor.observe(observation.failed)
            self._slow_monitor.observe(self._is_slow(observation))

    def timeslices(self) -> tuple[Timeslice, ...]:
        slices: list[Timeslice] = []
        start = self.window_start
        while start < self.window_end:
            end = min(start + self.slice_s, self.window_end)
            inside = [o for o in self._observations if start <= o.at < end]
            slices.append(
                Timeslice(
                    start=self._wall(start),
                    end=self._wall(end),
                    n=len(inside),
                    errors=sum(o.failed for o in inside),
                    slow=sum(self._is_slow(o) for o in inside),
                )
            )
            start = end
        return tuple(slices)

    def verdicts(self) -> tuple[Verdict, Verdict]:
        """(error-rate verdict, latency verdict) for what the window holds now."""
        end = min(self._clock.monotonic(), self.window_end)
        window = Window(
            start=self._wall(self.window_start),
            end=self._wall(max(end, self.window_start)),
            burn_in_s=self.burn_in_s,
            burn_in_samples=self.burn_in_samples,
            timeslices=self.timeslices(),
        )
        common = {"source": self.source, "window": window, "subject": self.subject}
        if self.mode is GatingMode.SEQUENTIAL:
            return (
                self._sequential_verdict("error_rate", self._error_monitor, window),
                self._sequential_verdict("p95_latency_slow_fraction", self._slow_monitor, window),
            )
        failures = sum(o.failed for o in self._observations)
        error = judge_rate(
            check="error_rate",
            failures=failures,
            n=len(self._observations),
            threshold=self.thresholds.max_error_rate,
            method=self.method,
            confidence=self.confidence,
            **common,  # type: ignore[arg-type]
        )
        latency = judge_quantile(
            check=f"p{round(self.thresholds.latency_quantile * 100)}_latency_ms",
            samples=[o.latency_ms for o in self._observations],
            threshold=self.thresholds.max_latency_ms,
            q=self.thresholds.latency_quantile,
            confidence=self.confidence,
            **common,  # type: ignore[arg-type]
        )
        return error, latency

    def _sequential_verdict(
        self, check: str, monitor: SequentialMonitor, window: Window
    ) -> Verdict:
        return judge_sequential(
            check=check,
            source=self.source,
            test=monitor.test,
            failures=monitor.failures,
            n=monitor.trials,
            decided_at=monitor.stopped_at,
            window=window,
            subject=self.subject,
            display_method=self.method,
        )

    def _is_slow(self, observation: Observation) -> bool:
        return observation.latency_ms > self.thresholds.max_latency_ms

    def _wall(self, monotonic_at: float) -> str:
        return utc_iso(self._wall0 + timedelta(seconds=monotonic_at - self._t0))
