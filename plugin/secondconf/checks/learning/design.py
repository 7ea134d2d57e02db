"""The learning test's fixed design (RL-04): conversion model, seeds, rounds, threshold.

Why these numbers (research note ``learning-resilience.md`` §1.3–1.4: never judge one
run, simulate the test before asserting it): each of :data:`SEEDS` gets a page of its own
whose bandit starts at Beta(1, 1), and :data:`ROUNDS` rounds of view -> outcome ->
impression. The outcome comes from a synthetic conversion model, seeded per page, in
which one arm (a different one per seed, so a bandit that favours an arm by position
cannot pass) converts much better:

* the better arm: lead 0.5, checkout 0.4, no complaint (mean reward 0.46, success
  probability after rescaling 0.614);
* the others: lead 0.1, no checkout, complaint 0.2 (mean reward 0.0, rescaled 0.286).

The statistic is the better arm's share of the last half of each page's picks, averaged
over the seeds; the check PASSes when it is at least :data:`THRESHOLD`. A uniform picker
sits at 1/3. ``tests/plugin/test_learning_design.py`` measures, by simulating Thompson
sampling and a uniform picker through exactly this design, the false-FAIL rate of a
correct bandit and the power against a uniform one (figures in docs/checks/learning.md).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

SEEDS: Final[tuple[int, ...]] = tuple(range(1, 9))
ROUNDS: Final = 100
THRESHOLD: Final = 0.5  # mean late share of the better arm; uniform picking gives 1/3
CURVE_BUCKET: Final = 10  # rounds per point of the learning curve

# Measured by tests/plugin/test_learning_design.py (10,000 simulated tests per bandit):
# a correct bandit failed 0 times (95 % upper bound 3.0e-4; lowest statistic 0.61), a
# uniform picker passed 0 times; its exact pass probability is Binomial(400, 1/3) >= 200.
FALSE_FAIL_BOUND: Final = 3.0e-4
UNIFORM_PASS_PROBABILITY: Final = 4.6e-12

# (lead, checkout, complaint) per impression; every impression is a page view.
BETTER_RATES: Final = (0.5, 0.4, 0.0)
OTHER_RATES: Final = (0.1, 0.0, 0.2)


def better_arm(seed: int, arms: Sequence[str]) -> str:
    """The arm the conversion model favours for this seed (rotates over the sorted arms)."""
    ordered = sorted(arms)
    return ordered[seed % len(ordered)]


def outcome(rng: random.Random, better: bool) -> dict[str, int]:
    """One impression's signals drawn from the conversion model."""
    lead, checkout, complaint = BETTER_RATES if better else OTHER_RATES
    return {
        "page_view": 1,
        "lead": int(rng.random() < lead),
        "checkout": int(rng.random() < checkout),
        "complaint": int(rng.random() < complaint),
    }


@dataclass(frozen=True)
class SeedRun:
    """One seed's page: the arm the model favoured and the arm picked each round."""

    seed: int
    better: str
    picks: tuple[str, ...]

    def late_share(self) -> float:
        """The better arm's share of the last half of the picks."""
        late = self.picks[len(self.picks) // 2 :]
        return sum(p == self.better for p in late) / len(late) if late else 0.0

    def early_share(self) -> float:
        early = self.picks[: len(self.picks) // 2]
        return sum(p == self.better for p in early) / len(early) if early else 0.0


def mean_late_share(runs: Sequence[SeedRun]) -> float:
    return sum(r.late_share() for r in runs) / len(runs) if runs else 0.0


def learning_curve(runs: Sequence[SeedRun], bucket: int = CURVE_BUCKET) -> list[float]:
    """The better arm's share per ``bucket`` rounds, averaged over the seeds."""
    if not runs:
        return []
    length = min(len(r.picks) for r in runs)
    curve = []
    for start in range(0, length - length % bucket, bucket):
        hits = sum(p == r.better for r in runs for p in r.picks[start : start + bucket])
        curve.append(hits / (bucket * len(runs)))
    return curve


def mean_rewards() -> Mapping[str, float]:
    """The model's mean reward per impression, for the better arm and the others."""

    def mean(rates: tuple[float, float, float]) -> float:
        lead, checkout, complaint = rates
        return round(0.05 + 0.3 * lead + 0.65 * checkout - 0.4 * complaint, 9)

    return {"better": mean(BETTER_RATES), "other": mean(OTHER_RATES)}
