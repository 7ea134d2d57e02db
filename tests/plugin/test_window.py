"""The stable window: burn-in discarded, one look (fixed) or an anytime-valid look."""

from __future__ import annotations

from secondconf.core.clock import ManualClock
from secondconf.engine.verdict import Outcome
from secondconf.engine.window import GatingMode, Observation, StableWindowEvaluator


def feed(
    evaluator: StableWindowEvaluator,
    clock: ManualClock,
    *,
    seconds: float,
    rate: float,
    failed_every: int = 0,
    latency_ms: float = 5.0,
) -> None:
    """Observe ``rate`` probes per second for ``seconds``, advancing the clock."""
    base = clock.monotonic()
    for i in range(round(seconds * rate)):
        failed = bool(failed_every) and i % failed_every == 0
        at = base + i / rate  # computed, not accumulated: no float drift across the burn-in edge
        evaluator.observe(Observation(at=at, failed=failed, latency_ms=latency_ms))
    clock.advance(seconds)


def make(clock: ManualClock, **kwargs: object) -> StableWindowEvaluator:
    options: dict[str, object] = {"burn_in_s": 10.0, "window_s": 60.0, "slice_s": 20.0}
    options.update(kwargs)
    return StableWindowEvaluator(clock=clock, **options)  # type: ignore[arg-type]


def test_burn_in_samples_are_counted_and_discarded() -> None:
    clock = ManualClock()
    evaluator = make(clock)
    feed(evaluator, clock, seconds=10, rate=10, failed_every=1)  # all failures, all burn-in
    feed(evaluator, clock, seconds=60, rate=10)
    error, _ = evaluator.verdicts()
    assert evaluator.burn_in_samples == 100
    assert (error.n, error.k, error.outcome) == (600, 0, Outcome.PASS)
    assert error.window.burn_in_samples == 100


def test_samples_after_the_window_are_ignored() -> None:
    clock = ManualClock()
    evaluator = make(clock, burn_in_s=0.0)
    feed(evaluator, clock, seconds=60, rate=10)
    assert evaluator.complete
    feed(evaluator, clock, seconds=10, rate=10, failed_every=1)
    error, _ = evaluator.verdicts()
    assert (error.n, error.k) == (600, 0)


def test_fixed_mode_is_not_complete_before_the_window_ends() -> None:
    clock = ManualClock()
    evaluator = make(clock)
    feed(evaluator, clock, seconds=69, rate=10)
    assert not evaluator.complete
    clock.advance(1.0)
    assert evaluator.complete


def test_timeslices_split_the_window_and_count_errors_and_slow_probes() -> None:
    clock = ManualClock()
    evaluator = make(clock, burn_in_s=0.0)
    feed(evaluator, clock, seconds=20, rate=10, failed_every=50)
    feed(evaluator, clock, seconds=20, rate=10, latency_ms=500.0)
    feed(evaluator, clock, seconds=20, rate=10)
    slices = evaluator.timeslices()
    assert [(s.n, s.errors, s.slow) for s in slices] == [(200, 4, 0), (200, 0, 200), (200, 0, 0)]
    assert slices[0].start == "2026-01-01T00:00:00Z"
    assert slices[-1].end == "2026-01-01T00:01:00Z"


def test_latency_verdict_fails_a_slow_app() -> None:
    clock = ManualClock()
    evaluator = make(clock)
    feed(evaluator, clock, seconds=70, rate=10, latency_ms=270.0)
    _, latency = evaluator.verdicts()
    assert latency.outcome is Outcome.FAIL
    assert latency.estimate == 270.0


def test_sequential_mode_stops_early_on_a_clearly_failing_app() -> None:
    clock = ManualClock()
    evaluator = make(clock, mode=GatingMode.SEQUENTIAL, window_s=900.0)
    feed(evaluator, clock, seconds=10, rate=10)
    feed(evaluator, clock, seconds=30, rate=10, failed_every=5, latency_ms=500.0)
    assert evaluator.decided
    assert evaluator.complete
    error, latency = evaluator.verdicts()
    assert (error.outcome, latency.outcome) == (Outcome.FAIL, Outcome.FAIL)
    assert error.method == "sprt"
    assert error.details["decided_at"] is not None
    assert error.details["decided_at"] < 300


def test_sequential_mode_passes_a_clean_app_before_the_window_ends() -> None:
    clock = ManualClock()
    evaluator = make(clock, mode=GatingMode.SEQUENTIAL, window_s=900.0)
    feed(evaluator, clock, seconds=10 + 70, rate=10)
    assert evaluator.decided
    error, latency = evaluator.verdicts()
    assert (error.outcome, latency.outcome) == (Outcome.PASS, Outcome.PASS)


def test_window_with_no_probes_is_inconclusive() -> None:
    clock = ManualClock()
    evaluator = make(clock)
    clock.advance(70)
    error, latency = evaluator.verdicts()
    assert error.outcome is Outcome.INCONCLUSIVE
    assert latency.outcome is Outcome.INCONCLUSIVE


def test_sequential_mode_stops_as_soon_as_one_claim_fails() -> None:
    clock = ManualClock()
    evaluator = make(clock, mode=GatingMode.SEQUENTIAL, window_s=900.0)
    feed(evaluator, clock, seconds=10, rate=10)
    feed(evaluator, clock, seconds=10, rate=10, latency_ms=500.0)  # slow, but no errors
    assert evaluator.decided
    error, latency = evaluator.verdicts()
    assert latency.outcome is Outcome.FAIL
    assert error.outcome is Outcome.INCONCLUSIVE  # not enough data to pass yet: never a PASS
