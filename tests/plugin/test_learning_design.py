"""The learning test's error rates (RL-04), measured by simulation of its exact design.

A correct bandit here is Beta–Bernoulli Thompson sampling with the rescaled reward counted
as one Bernoulli draw (contract §8, what A7 implements); the wrong ones pick uniformly,
or never update. Each simulated *test* is the design's :data:`SEEDS` pages of
:data:`ROUNDS` rounds, outcomes drawn from the design's conversion model, judged by the
design's threshold on the mean late share. Vectorised with numpy over many tests at once;
a fixed generator seed makes the figures reproducible. The figures (printed with ``-s``)
are the ones docs/checks/learning.md states.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from scipy import stats
from secondconf.checks.learning.design import (
    BETTER_RATES,
    FALSE_FAIL_BOUND,
    OTHER_RATES,
    ROUNDS,
    SEEDS,
    THRESHOLD,
    UNIFORM_PASS_PROBABILITY,
    SeedRun,
    better_arm,
    mean_late_share,
    outcome,
)

ARMS = 3
TESTS = 10_000  # simulated runs of the whole RL-04 test, per kind of bandit


def simulate(pages: int, policy: str, rng: np.random.Generator) -> np.ndarray:
    """The arm picked per page and round (arm 0 is the better one)."""
    alpha, beta = np.ones((pages, ARMS)), np.ones((pages, ARMS))
    rates = np.array([BETTER_RATES] + [OTHER_RATES] * (ARMS - 1))  # (lead, checkout, complaint)
    picks = np.zeros((pages, ROUNDS), dtype=np.int64)
    rows = np.arange(pages)
    for t in range(ROUNDS):
        if policy == "uniform":
            arm = rng.integers(0, ARMS, pages)
        else:
            arm = np.argmax(rng.beta(alpha, beta), axis=1)
        picks[:, t] = arm
        lead, checkout, complaint = (rng.random((3, pages)) < rates[arm].T).astype(float)
        reward = 0.05 + 0.3 * lead + 0.65 * checkout - 0.4 * complaint
        success = rng.random(pages) < (reward + 0.4) / 1.4
        if policy == "thompson":
            alpha[rows, arm] += success
            beta[rows, arm] += ~success
    return picks


def late_shares(picks: np.ndarray) -> np.ndarray:
    """Each test's statistic: the better arm's late share, averaged over its seeds."""
    per_page = (picks[:, ROUNDS // 2 :] == 0).mean(axis=1)
    return per_page.reshape(-1, len(SEEDS)).mean(axis=1)


def rule_of_three(failures: int, n: int) -> float:
    """A 95 % upper bound on a rate (exact Clopper–Pearson; 3/n when nothing was seen)."""
    return float(stats.beta.ppf(0.95, failures + 1, n - failures))


def test_the_vectorised_statistic_is_the_checks_own() -> None:
    rng = np.random.default_rng(5)
    picks = simulate(len(SEEDS), "thompson", rng)
    runs = [
        SeedRun(s, "a", tuple("a" if p == 0 else "b" for p in row))
        for s, row in zip(SEEDS, picks, strict=True)
    ]
    assert late_shares(picks)[0] == pytest.approx(mean_late_share(runs), abs=1e-12)


def test_the_conversion_model_is_the_checks_own() -> None:
    draws = [outcome(random.Random(n), True) for n in range(2000)]
    assert sum(d["checkout"] for d in draws) / 2000 == pytest.approx(BETTER_RATES[1], abs=0.04)
    assert {better_arm(s, ["x", "y", "z"]) for s in SEEDS} == {"x", "y", "z"}


def test_false_fail_rate_and_power_of_the_learning_test() -> None:
    rng = np.random.default_rng(20261203)
    pages = TESTS * len(SEEDS)
    correct = late_shares(simulate(pages, "thompson", rng))
    uniform = late_shares(simulate(pages, "uniform", rng))
    frozen = late_shares(simulate(pages, "frozen", rng))
    false_fails = int((correct < THRESHOLD).sum())
    misses = {
        name: int((s >= THRESHOLD).sum()) for name, s in (("uniform", uniform), ("frozen", frozen))
    }
    # A uniform picker's late picks are Binomial(n, 1/3): its exact pass probability.
    late_picks = len(SEEDS) * (ROUNDS - ROUNDS // 2)
    uniform_pass = float(stats.binom.sf(np.ceil(THRESHOLD * late_picks) - 1, late_picks, 1 / 3))
    print(
        f"\nRL-04 design: {len(SEEDS)} seeds x {ROUNDS} rounds, threshold {THRESHOLD}; "
        f"{TESTS} simulated tests per bandit\n"
        f"correct bandit: mean statistic {correct.mean():.3f}, 0.1 % quantile "
        f"{np.quantile(correct, 0.001):.3f}, min {correct.min():.3f}; false FAILs "
        f"{false_fails}/{TESTS} (95 % upper bound {rule_of_three(false_fails, TESTS):.1e})\n"
        f"uniform bandit: mean {uniform.mean():.3f}, max {uniform.max():.3f}; passed "
        f"{misses['uniform']}/{TESTS} (power >= {1 - rule_of_three(misses['uniform'], TESTS):.4f}; "
        f"exact pass probability {uniform_pass:.1e})\n"
        f"never-updating bandit: passed {misses['frozen']}/{TESTS}"
    )
    assert false_fails == 0
    assert rule_of_three(false_fails, TESTS) <= FALSE_FAIL_BOUND  # the figure the reports state
    assert misses == {"uniform": 0, "frozen": 0}
    assert uniform_pass == pytest.approx(UNIFORM_PASS_PROBABILITY, rel=0.05)
