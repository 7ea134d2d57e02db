"""The anytime-valid sequential test (engine.sequential): figures, decisions, validation."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binom
from secondconf.engine.sequential import SequentialBernoulliTest, SequentialMonitor


@pytest.mark.parametrize(
    ("threshold", "pass_after", "cost_per_failure"),
    # stat-gating §4.3, alpha = 0.05, p1 = p0 / 2: error rate, p95 slow share, funnel failures.
    [(0.01, 595, 137.6), (0.05, 116, 26.7), (0.10, 56, 12.8)],
)
def test_trials_needed_to_pass(threshold: float, pass_after: int, cost_per_failure: float) -> None:
    test = SequentialBernoulliTest(threshold)
    assert test.pass_alternative == pytest.approx(threshold / 2)
    assert test.min_trials_to_pass() == pass_after
    assert test.decide(0, pass_after) == "PASS"
    assert test.decide(0, pass_after - 1) == "CONTINUE"
    # Each failure costs log 2 / log((1-p1)/(1-p0)) more clean trials (≈ 138 at p0 = 1 %).
    extra_clean = (test.min_trials_to_pass(20) - 20 - test.min_trials_to_pass(0)) / 20
    assert extra_clean == pytest.approx(cost_per_failure, abs=0.1)


@pytest.mark.parametrize("failures", [0, 1, 2, 5, 17])
def test_min_trials_to_pass_is_where_decide_first_passes(failures: int) -> None:
    test = SequentialBernoulliTest(0.01)
    n = test.min_trials_to_pass(failures)
    assert test.decide(failures, n) == "PASS"
    assert test.decide(failures, n - 1) == "CONTINUE"


@given(
    st.integers(min_value=0, max_value=200),
    st.integers(min_value=0, max_value=20_000),
    st.sampled_from([0.001, 0.01, 0.05, 0.1, 0.3]),
)
def test_log_likelihood_ratios_match_binomial_log_pmf(k: int, extra: int, threshold: float) -> None:
    # The binomial coefficient cancels, so log Λn is a difference of log-pmfs.
    test = SequentialBernoulliTest(threshold)
    n = k + extra
    p0, p1, p1f = test.threshold, test.pass_alternative, test.fail_alternative
    expected_pass = binom.logpmf(k, n, p1) - binom.logpmf(k, n, p0)
    expected_fail = binom.logpmf(k, n, p1f) - binom.logpmf(k, n, p0)
    assert test.log_lr_pass(k, n) == pytest.approx(expected_pass, rel=1e-9, abs=1e-9)
    assert test.log_lr_fail(k, n) == pytest.approx(expected_fail, rel=1e-9, abs=1e-9)
    # PASS and FAIL evidence never both reach the boundary.
    assert not (
        test.log_lr_pass(k, n) >= test.log_boundary and test.log_lr_fail(k, n) >= test.log_boundary
    )


def test_decide_at_the_boundaries() -> None:
    test = SequentialBernoulliTest(0.01)  # p1' = 2 %: each failure adds log 2 of FAIL evidence
    assert test.log_boundary == pytest.approx(math.log(20))
    assert test.decide(0, 0) == "CONTINUE"
    assert test.decide(4, 4) == "CONTINUE"  # 4 log 2 = 2.77 < log 20 = 3.00
    assert test.decide(5, 5) == "FAIL"
    assert test.decide(1, 595) == "CONTINUE"  # a single failure delays the PASS
    assert test.decide(30, 1000) == "FAIL"
    assert test.decide(10, 1000) == "CONTINUE"


def test_alpha_moves_the_boundary() -> None:
    # Stricter alpha, later PASS: 0 failures needs n·log(0.995/0.99) >= log(1/alpha).
    for alpha in (0.05, 0.01, 0.001):
        expected = math.ceil(math.log(1 / alpha) / math.log(0.995 / 0.99))
        assert SequentialBernoulliTest(0.01, alpha).min_trials_to_pass() == expected


def test_default_fail_alternative_stays_below_one() -> None:
    assert SequentialBernoulliTest(0.01).fail_alternative == pytest.approx(0.02)
    assert SequentialBernoulliTest(0.30).fail_alternative == pytest.approx(0.60)
    assert SequentialBernoulliTest(0.50).fail_alternative == pytest.approx(0.75)
    assert SequentialBernoulliTest(0.90).fail_alternative == pytest.approx(0.95)


def test_explicit_alternatives_are_kept() -> None:
    test = SequentialBernoulliTest(0.01, 0.01, pass_alternative=0.008, fail_alternative=0.015)
    assert (test.pass_alternative, test.fail_alternative) == (0.008, 0.015)
    assert test == SequentialBernoulliTest(0.01, 0.01, 0.008, 0.015)
    with pytest.raises(dataclasses.FrozenInstanceError):
        test.alpha = 0.5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"threshold": 0.0}, "threshold"),
        ({"threshold": 1.0}, "threshold"),
        ({"threshold": float("nan")}, "threshold"),
        ({"threshold": 0.01, "alpha": 0.0}, "alpha"),
        ({"threshold": 0.01, "alpha": 1.0}, "alpha"),
        ({"threshold": 0.01, "pass_alternative": 0.01}, "pass_alternative"),
        ({"threshold": 0.01, "pass_alternative": 0.0}, "pass_alternative"),
        ({"threshold": 0.01, "pass_alternative": 0.02}, "pass_alternative"),
        ({"threshold": 0.01, "fail_alternative": 0.01}, "fail_alternative"),
        ({"threshold": 0.01, "fail_alternative": 0.005}, "fail_alternative"),
        ({"threshold": 0.01, "fail_alternative": 1.0}, "fail_alternative"),
    ],
)
def test_invalid_parameters_raise(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SequentialBernoulliTest(**kwargs)


@pytest.mark.parametrize(("failures", "trials"), [(-1, 10), (11, 10), (0, -1)])
def test_invalid_counts_raise(failures: int, trials: int) -> None:
    test = SequentialBernoulliTest(0.01)
    for call in (test.log_lr_pass, test.log_lr_fail, test.decide):
        with pytest.raises(ValueError, match="must be"):
            call(failures, trials)
    with pytest.raises(ValueError, match="failures"):
        test.min_trials_to_pass(-1)


def test_monitor_latches_pass() -> None:
    monitor = SequentialMonitor(SequentialBernoulliTest(0.01))
    decisions = [monitor.observe(False) for _ in range(595)]
    assert decisions[:-1] == ["CONTINUE"] * 594
    assert decisions[-1] == "PASS"
    assert (monitor.stopped_at, monitor.trials, monitor.failures) == (595, 595, 0)
    # Later evidence cannot overturn the decision taken at the stopping time, and the counts
    # stay those the decision was taken on.
    for _ in range(50):
        assert monitor.observe(True) == "PASS"
    assert (monitor.trials, monitor.failures, monitor.decision) == (595, 0, "PASS")
    assert monitor.stopped_at == 595


def test_monitor_latches_fail() -> None:
    monitor = SequentialMonitor(SequentialBernoulliTest(0.01))
    assert (monitor.decision, monitor.stopped_at, monitor.trials) == ("CONTINUE", None, 0)
    assert [monitor.observe(True) for _ in range(5)] == ["CONTINUE"] * 4 + ["FAIL"]
    assert (monitor.stopped_at, monitor.failures) == (5, 5)
    for _ in range(2000):
        assert monitor.observe(False) == "FAIL"
    assert (monitor.trials, monitor.failures, monitor.stopped_at) == (5, 5, 5)
    assert "FAIL" in repr(monitor)


def test_monitor_agrees_with_decide_on_a_mixed_stream() -> None:
    test = SequentialBernoulliTest(0.05)
    monitor = SequentialMonitor(test)
    assert monitor.test is test
    stream = ([False] * 60 + [True]) * 10
    failures = 0
    first_decision = None
    for trial, failed in enumerate(stream, start=1):
        failures += failed
        decided = test.decide(failures, trial)
        if first_decision is None and decided != "CONTINUE":
            first_decision = (decided, trial, failures)
        monitor.observe(failed)
    assert first_decision is not None
    assert (monitor.decision, monitor.stopped_at, monitor.failures) == first_decision
    assert test.decide(monitor.failures, monitor.trials) == monitor.decision
