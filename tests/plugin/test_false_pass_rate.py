"""False-PASS rates when the true error rate sits exactly at the threshold (p = 1 %).

A false PASS is the error the gate promises to bound: P(PASS | SLO violated) <= alpha.
Three ways of looking at the same data are compared:

1. fixed n, one look at the end: honest (<= alpha);
2. the sequential test checked after every request: honest at any stopping time (<= alpha);
3. a fixed-n bound re-checked every slice (30 looks), stopping at the first PASS:
   dishonest (well above alpha). The last test shows the simulation can fail.

Monte Carlo: R = 20 000 seeded runs of N = 1 500 i.i.d. Bernoulli(0.01) requests (roughly
15 minutes at 1.7 req/s; looks every 50 requests), vectorised as cumulative sums. A rate r
estimated from R runs has standard error sqrt(r(1-r)/R), so every "<= alpha" claim allows
TOL = 3 * sqrt(alpha (1 - alpha) / R) ≈ 0.0046 of simulation noise (a 3-sigma margin).
Where the answer can also be computed exactly (single look: binomial CDF; sequential:
dynamic programming over the failure count), the exact figure is asserted too, and the
simulation must agree with it within 3 of its own standard errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest
from scipy.stats import binom
from secondconf.engine.sequential import SequentialBernoulliTest, SequentialMonitor
from secondconf.engine.stats import Method, min_samples, proportion_bounds

THRESHOLD = 0.01  # the SLO: error rate < 1 %
P_TRUE = THRESHOLD  # the worst case for a false PASS: exactly at the threshold
ALPHA = 0.05
SEED = 20_260_101
RUNS = 20_000
REQUESTS = 1_500
LOOKS = 30
TOL = 3 * math.sqrt(ALPHA * (1 - ALPHA) / RUNS)

IntArray = npt.NDArray[np.int64]


def three_se(rate: float) -> float:
    return 3 * math.sqrt(rate * (1 - rate) / RUNS)


def pass_max_failures(n: int, method: Method) -> int:
    """Most failures out of n whose decision upper bound is still below the threshold (-1: none)."""
    k = -1
    while k + 1 <= n and proportion_bounds(k + 1, n, method, 1 - ALPHA)[1] < THRESHOLD:
        k += 1
    return k


def sequential_boundaries(test: SequentialBernoulliTest, horizon: int) -> tuple[IntArray, IntArray]:
    """For t = 1..horizon: most failures that PASS at t (-1: none), fewest that FAIL (t+1: none).

    Both are non-decreasing in t, so one walk with decide() finds them all.
    """
    pass_max = np.empty(horizon, dtype=np.int64)
    fail_min = np.empty(horizon, dtype=np.int64)
    most, fewest = -1, 0
    for t in range(1, horizon + 1):
        while most + 1 <= t and test.decide(most + 1, t) == "PASS":
            most += 1
        while fewest <= t and test.decide(fewest, t) != "FAIL":
            fewest += 1
        pass_max[t - 1], fail_min[t - 1] = most, fewest
    return pass_max, fail_min


def exact_sequential_rates(
    test: SequentialBernoulliTest, p: float, horizon: int
) -> tuple[float, float]:
    """Exact P(PASS by horizon), P(FAIL by horizon) for a monitor checked after every request."""
    pass_max, fail_min = sequential_boundaries(test, horizon)
    alive = np.zeros(int(fail_min.max()) + 2)  # mass by failure count, not yet stopped
    alive[0] = 1.0
    passed = failed = 0.0
    for t in range(horizon):
        step = alive * (1 - p)
        step[1:] += alive[:-1] * p
        most, fewest = pass_max[t], fail_min[t]
        passed += step[: most + 1].sum()
        step[: most + 1] = 0.0
        failed += step[fewest:].sum()
        step[fewest:] = 0.0
        alive = step
    return passed, failed


@dataclass(frozen=True)
class Simulation:
    # shape (RUNS, REQUESTS): failures counted after each request of each run
    cumulative_failures: npt.NDArray[np.int16]

    def at(self, trials: int) -> npt.NDArray[np.int16]:
        return self.cumulative_failures[:, trials - 1]

    def stream(self, run: int) -> list[bool]:
        return [bool(x) for x in np.diff(self.cumulative_failures[run], prepend=0)]


@pytest.fixture(scope="module")
def simulation() -> Simulation:
    rng = np.random.default_rng(SEED)
    cumulative = np.empty((RUNS, REQUESTS), dtype=np.int16)
    chunk = 2_000  # keeps the float temporaries small
    for start in range(0, RUNS, chunk):
        failed = rng.random((chunk, REQUESTS)) < P_TRUE
        np.cumsum(failed, axis=1, dtype=np.int16, out=cumulative[start : start + chunk])
    return Simulation(cumulative)


# --------------------------------------------------------------------------- 1. one look


@pytest.mark.parametrize("method", ["wilson", "exact"])
def test_single_look_at_the_end_is_honest(simulation: Simulation, method: Method) -> None:
    """Fixed n, one pre-declared look: false-PASS rate <= alpha + TOL (TOL = 3 binomial SE)."""
    most = pass_max_failures(REQUESTS, method)
    rate = float(np.mean(simulation.at(REQUESTS) <= most))
    exact = float(binom.cdf(most, REQUESTS, P_TRUE))
    assert rate <= ALPHA + TOL
    assert exact <= ALPHA
    assert abs(rate - exact) <= three_se(exact)  # the simulator itself is right


@pytest.mark.parametrize(
    ("threshold", "max_n", "wilson_one_sided_worst"),
    [(0.01, 3_000, (0.068, 268)), (0.05, 1_000, (0.069, 52)), (0.10, 1_000, (0.072, 25))],
)
def test_single_look_exact_scan_over_n(
    threshold: float, max_n: int, wilson_one_sided_worst: tuple[float, int]
) -> None:
    """Exact false-PASS probability at p = threshold for every n up to max_n (no simulation).

    Both decision bounds stay <= alpha at every n (two-sided Wilson peaks at 2.5-2.6 %). The
    one-sided Wilson bound, computed as the two-sided interval at 90 % (the same number), does
    not, which is why it is not a decision method (stat-gating §4.1: 6.8 % at n = 268 for
    p = 1 %, 6.9 % at n = 52 for p = 5 %).
    """
    ns = np.arange(1, max_n + 1)

    def worst(method: Method, confidence: float) -> tuple[float, int]:
        first_n: list[int] = []  # first_n[k]: fewest trials at which k failures PASS
        while not first_n or first_n[-1] <= max_n:
            first_n.append(min_samples(threshold, len(first_n), method, confidence))
        most = np.searchsorted(first_n, ns, side="right") - 1  # -1 where nothing PASSes
        rates = binom.cdf(most, ns, threshold)
        return round(float(rates.max()), 3), int(ns[rates.argmax()])

    assert worst("exact", 0.95)[0] <= ALPHA
    assert worst("wilson", 0.95)[0] <= ALPHA
    assert worst("wilson", 0.90) == wilson_one_sided_worst
    assert wilson_one_sided_worst[0] > ALPHA


# --------------------------------------------------------------------------- 2. sequential


def test_sequential_monitoring_is_honest(simulation: Simulation) -> None:
    """Checked after every request, stopped at the first decision: P(ever PASS) <= alpha + TOL."""
    test = SequentialBernoulliTest(THRESHOLD, ALPHA)
    pass_max, fail_min = sequential_boundaries(test, REQUESTS)
    counts = simulation.cumulative_failures

    def first(hit: npt.NDArray[np.bool_]) -> IntArray:
        return np.where(hit.any(axis=1), hit.argmax(axis=1), REQUESTS)

    first_pass = first(counts <= pass_max)
    first_fail = first(counts >= fail_min)
    passed = first_pass < first_fail  # the monitor latches whichever comes first
    failed = first_fail < first_pass
    rate, fail_rate = float(passed.mean()), float(failed.mean())

    exact_pass, exact_fail = exact_sequential_rates(test, P_TRUE, REQUESTS)
    assert rate <= ALPHA + TOL
    assert abs(rate - exact_pass) <= three_se(exact_pass)
    assert abs(fail_rate - exact_fail) <= three_se(exact_fail)

    # The vectorised boundaries are the monitor's: replay some runs through SequentialMonitor.
    for run in range(40):
        monitor = SequentialMonitor(test)
        for failed_request in simulation.stream(run):
            monitor.observe(failed_request)
        expected = "PASS" if passed[run] else "FAIL" if failed[run] else "CONTINUE"
        assert monitor.decision == expected
        stop = min(first_pass[run], first_fail[run])
        assert monitor.stopped_at == (None if stop == REQUESTS else stop + 1)


@pytest.mark.parametrize(("threshold", "horizon"), [(0.01, 9_000), (0.05, 2_000), (0.10, 1_000)])
def test_sequential_error_bounds_exactly(threshold: float, horizon: int) -> None:
    """Exact (dynamic programming) over a check after every request, up to the horizon.

    At p = p0 both errors are <= alpha (Ville). At p = p1 (half the threshold) the test
    nearly always PASSes in time: 99.7 % within 9000 requests at p0 = 1 % (stat-gating §4.3).
    """
    test = SequentialBernoulliTest(threshold, ALPHA)
    false_pass, false_fail = exact_sequential_rates(test, threshold, horizon)
    assert false_pass <= ALPHA
    assert false_fail <= ALPHA
    power, _ = exact_sequential_rates(test, threshold / 2, horizon)
    assert power >= 0.99


# --------------------------------------------------------------------------- 3. peeking


@pytest.mark.parametrize("method", ["wilson", "exact"])
def test_peeking_at_a_fixed_n_bound_is_not_honest(simulation: Simulation, method: Method) -> None:
    """Re-checking the fixed-n decision bound at 30 looks and stopping at the first PASS.

    The same bound that is honest for one look (test 1) now PASSes a service sitting at the
    threshold far more often than alpha: the rate exceeds alpha + TOL.
    """
    looks = np.arange(1, LOOKS + 1) * (REQUESTS // LOOKS)
    most = np.array([pass_max_failures(int(n), method) for n in looks])
    counts = simulation.cumulative_failures[:, looks - 1]
    rate = float(np.mean((counts <= most).any(axis=1)))
    single_look = float(binom.cdf(most[-1], REQUESTS, P_TRUE))
    assert rate > ALPHA + TOL
    assert rate > 3 * single_look
