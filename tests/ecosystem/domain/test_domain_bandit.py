"""A7's Thompson-sampling bandit: learning, update rule, propensities, config, persistence."""

from __future__ import annotations

import contextlib
import math
import random
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from reftarget.domain.bandit import (
    BanditUpdate,
    Posterior,
    SqliteBanditStore,
    ThompsonBandit,
    reward,
    selection_probabilities,
    success_probability,
)
from reftarget.domain.storage import Database

if TYPE_CHECKING:
    from conftest import FakeClock

# Per-impression outcome rates (lead, checkout, complaint); every impression is a page view.
# Mean rewards: A ≈ 0.085, B ≈ 0.23 (rescaled: 0.35 and 0.45), so B is the better CTA.
ARM_RATES = {"A": (0.10, 0.02, 0.02), "B": (0.30, 0.15, 0.01)}


def simulate(bandit: ThompsonBandit, env: random.Random, rounds: int) -> list[str]:
    """Show ``rounds`` impressions, feed back each one's reward, return the arms chosen."""
    chosen = []
    for _ in range(rounds):
        arm = bandit.choose().arm
        lead_p, checkout_p, complaint_p = ARM_RATES[arm]
        r = reward(1, env.random() < lead_p, env.random() < checkout_p, env.random() < complaint_p)
        bandit.update(arm, r)
        chosen.append(arm)
    return chosen


def learned(choices: list[str]) -> tuple[float, float]:
    first, last = choices[:100], choices[-500:]
    return first.count("B") / len(first), last.count("B") / len(last)


class FrozenBandit(ThompsonBandit):
    """A mutant that never learns: proves the learning criterion can fail."""

    def update(self, arm: str, reward: float):  # type: ignore[no-untyped-def]
        return None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bandit_shifts_choices_and_weights_toward_the_better_arm(
    seed: int, clock: FakeClock
) -> None:
    bandit = ThompsonBandit(["A", "B"], random.Random(seed), clock=clock)
    initial_weight_b = bandit.config()["arm_weights"]["B"]
    choices = simulate(bandit, random.Random(1000 + seed), 1000)
    share_first, share_last = learned(choices)
    assert share_last > 0.7
    assert share_last > share_first
    final_weight_b = bandit.config()["arm_weights"]["B"]
    assert final_weight_b > 0.9
    assert final_weight_b > initial_weight_b


def test_learning_criterion_fails_for_a_bandit_that_does_not_update(clock: FakeClock) -> None:
    bandit = FrozenBandit(["A", "B"], random.Random(1), clock=clock)
    share_first, share_last = learned(simulate(bandit, random.Random(1001), 1000))
    assert not (share_last > 0.7 and share_last > share_first)


class Uniform(random.Random):
    """An rng whose ``random()`` is always ``u``: fixes the Bernoulli draw of an update."""

    def __init__(self, u: float) -> None:
        super().__init__(0)
        self.u = u

    def random(self) -> float:
        return self.u


class ClippingBandit(ThompsonBandit):
    """A mutant that counts the reward clipped to [0, 1] instead of rescaling it (the
    pre-§8 rule): proves the complaint test can fail."""

    def update(self, arm: str, reward: float) -> BanditUpdate:
        clipped = min(1.0, max(0.0, reward))
        return super().update(arm, clipped * 1.4 - 0.4)  # success probability = clipped


@pytest.mark.parametrize(
    ("r", "p"), [(1.0, 1.0), (0.3, 0.5), (0.05, 0.3214285714285714), (0.0, 2 / 7), (-0.4, 0.0)]
)
def test_the_reward_is_rescaled_not_clipped(r: float, p: float) -> None:
    assert success_probability(r) == pytest.approx(p, abs=1e-15)


@pytest.mark.parametrize(
    ("u", "counted"), [(0.4999, Posterior(2.0, 1.0)), (0.5, Posterior(1.0, 2.0))]
)
def test_an_update_is_one_bernoulli_trial_of_the_rescaled_reward(
    u: float, counted: Posterior, clock: FakeClock
) -> None:
    bandit = ThompsonBandit(["A", "B"], Uniform(u), clock=clock)
    result = bandit.update("B", 0.3)  # success probability 0.5
    assert (result.applied, result.success) == (0.5, u < 0.5)
    assert bandit.posteriors() == {"A": Posterior(), "B": counted}


def complaint_margin(bandit: ThompsonBandit, rounds: int = 200) -> float:
    """Posterior mean of an arm whose impressions led to nothing, minus that of an arm whose
    impressions were only complaints."""
    for _ in range(rounds):
        bandit.update("quiet", 0.0)
        bandit.update("complained", -0.4)
    posteriors = bandit.posteriors()
    return posteriors["quiet"].mean - posteriors["complained"].mean


def test_a_complaint_lowers_an_arm_below_no_outcome_at_all(clock: FakeClock) -> None:
    arms = ["quiet", "complained"]
    assert complaint_margin(ThompsonBandit(arms, random.Random(7), clock=clock)) > 0.2
    assert complaint_margin(ClippingBandit(arms, random.Random(7), clock=clock)) == 0.0


def test_unknown_arm_and_impossible_rewards_are_refused(clock: FakeClock) -> None:
    bandit = ThompsonBandit(["A", "B"], random.Random(0), clock=clock)
    with pytest.raises(ValueError, match="unknown arm"):
        bandit.update("Z", 0.5)
    for impossible in (math.nan, 1.5, -0.5):
        with pytest.raises(ValueError, match="reward must be a number in"):
            bandit.update("A", impossible)
    assert bandit.posteriors() == {"A": Posterior(), "B": Posterior()}


def test_choose_follows_the_posteriors(clock: FakeClock) -> None:
    bandit = ThompsonBandit(["A", "B"], random.Random(5), clock=clock)
    for _ in range(60):
        bandit.update("A", -0.4)
        bandit.update("B", 1.0)
    picks = [bandit.choose().arm for _ in range(200)]
    assert picks.count("B") >= 198


def closed_form_b_beats_a(a: Posterior, b: Posterior) -> float:
    """P(X_b > X_a) for Beta posteriors with integer b.alpha (Evan Miller's sum)."""

    def log_beta(x: float, y: float) -> float:
        return math.lgamma(x) + math.lgamma(y) - math.lgamma(x + y)

    return math.fsum(
        math.exp(
            log_beta(a.alpha + i, b.beta + a.beta)
            - math.log(b.beta + i)
            - log_beta(1 + i, b.beta)
            - log_beta(a.alpha, a.beta)
        )
        for i in range(int(b.alpha))
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (Posterior(3, 5), Posterior(7, 2)),
        (Posterior(40, 60), Posterior(45, 55)),
        (Posterior(2, 1), Posterior(1, 2)),
        (Posterior(1, 1), Posterior(2, 2)),
        (Posterior(480, 1520), Posterior(500, 1500)),
    ],
)
def test_propensities_match_the_closed_form_within_1e_10(a: Posterior, b: Posterior) -> None:
    p_a, p_b = selection_probabilities([a, b])
    assert p_b == pytest.approx(closed_form_b_beats_a(a, b), abs=1e-10)
    assert p_a + p_b == pytest.approx(1.0, abs=1e-15)


def test_propensities_of_equal_arms_are_equal_and_one_arm_is_certain() -> None:
    assert selection_probabilities([Posterior()] * 4) == pytest.approx([0.25] * 4, abs=1e-10)
    assert selection_probabilities([Posterior(9, 3)]) == [1.0]


def test_a_choice_carries_the_probability_it_had(clock: FakeClock) -> None:
    bandit = ThompsonBandit(["A", "B", "C"], random.Random(11), clock=clock)
    for arm, r in (("A", 1.0), ("A", 0.3), ("B", 1.0), ("C", -0.4)):
        bandit.update(arm, r)
    weights = bandit.config()["arm_weights"]
    choices = [bandit.choose() for _ in range(4000)]
    assert all(c.propensity == weights[c.arm] for c in choices)
    for arm, p in weights.items():  # the propensity is the frequency of the choice
        share = sum(c.arm == arm for c in choices) / len(choices)
        assert abs(share - p) < 4 * math.sqrt(p * (1 - p) / len(choices)), (arm, share, p)


def test_an_update_records_the_arm_s_propensity_before_it(clock: FakeClock) -> None:
    bandit = ThompsonBandit(["A", "B"], random.Random(0), clock=clock)
    bandit.update("A", 1.0)
    before = bandit.config()["arm_weights"]
    result = bandit.update("B", 1.0)
    assert result.propensity == before["B"]
    assert 0.0 < result.propensity < 0.5  # A had won once, so B was the less likely choice
    assert bandit.config()["arm_weights"]["B"] != result.propensity


def test_config_weights_are_a_pmf_and_exploration_is_one_minus_the_best(
    clock: FakeClock,
) -> None:
    bandit = ThompsonBandit(["A", "B", "C"], random.Random(0), clock=clock)
    for _ in range(5):
        bandit.update("C", 0.8)
    config = bandit.config()
    weights = config["arm_weights"]
    assert set(weights) == {"A", "B", "C"}
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-12)
    assert all(0.0 <= w <= 1.0 for w in weights.values())
    assert max(weights, key=weights.__getitem__) == "C"
    assert config["exploration_rate"] == pytest.approx(1.0 - max(weights.values()))
    assert config["updated_at"] == "2026-01-01T12:00:00Z"


def test_config_changes_only_on_update(clock: FakeClock) -> None:
    bandit = ThompsonBandit(["A", "B"], random.Random(0), clock=clock)
    before = bandit.config()
    clock.advance(600)
    assert bandit.config() == before  # time passing alone changes nothing

    result = bandit.update("B", 1.0)
    assert result.config_changed
    after = bandit.config()
    assert after != before
    assert after["updated_at"] == "2026-01-01T12:10:00Z"
    assert [e.event_name for e in result.emitted] == ["bandit_config"]
    assert result.emitted[0].fields == {  # the event's data: the figures of §8
        "arm_weights": after["arm_weights"],
        "exploration_rate": after["exploration_rate"],
    }

    clock.advance(60)
    assert bandit.config() == after


def test_an_update_that_leaves_the_weights_alone_emits_nothing(clock: FakeClock) -> None:
    bandit = ThompsonBandit(["only"], random.Random(0), clock=clock)
    before = bandit.config()
    clock.advance(60)
    result = bandit.update("only", 1.0)
    assert not result.config_changed
    assert result.emitted == ()
    assert bandit.config() == before


def test_posteriors_and_config_survive_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    db_path = tmp_path / "a7.sqlite"
    before_restart = Database(db_path)
    first = ThompsonBandit(["A", "B"], random.Random(0), before_restart, clock=clock)
    for r in (1.0, 0.65, 0.0):
        first.update("B", r)
    first.update("A", 0.3)
    before_restart.close()
    clock.advance(3600)

    with contextlib.closing(sqlite3.connect(db_path)) as after_restart:
        second = ThompsonBandit(["A", "B"], random.Random(0), after_restart, clock=clock)
        assert second.posteriors() == first.posteriors()
        assert second.config() == first.config()


def test_a_new_arm_joins_with_a_uniform_prior(conn: sqlite3.Connection, clock: FakeClock) -> None:
    store = SqliteBanditStore(conn, name="hero")
    ThompsonBandit(["A"], random.Random(0), store, clock=clock).update("A", 1.0)
    grown = ThompsonBandit(["A", "B"], random.Random(0), store, clock=clock)
    assert grown.posteriors() == {"A": Posterior(2.0, 1.0), "B": Posterior(1.0, 1.0)}


def test_the_clip_fault_counts_the_reward_clipped(clock: FakeClock) -> None:
    arms = ["quiet", "complained"]
    bandit = ThompsonBandit(arms, random.Random(7), clock=clock)
    assert bandit.update("quiet", 0.05, clip=True).applied == 0.05
    assert bandit.update("quiet", -0.4, clip=True).applied == 0.0
    assert bandit.update("quiet", 0.05).applied == success_probability(0.05)


def test_the_uniform_fault_ignores_the_posteriors(clock: FakeClock) -> None:
    bandit = ThompsonBandit(["A", "B"], random.Random(3), clock=clock)
    for _ in range(30):
        bandit.update("B", 1.0)
    assert sum(bandit.choose().arm == "B" for _ in range(100)) > 90
    picks = [bandit.choose(uniform=True) for _ in range(400)]
    assert 150 < sum(p.arm == "A" for p in picks) < 250
    assert {p.propensity for p in picks} == set(bandit.config()["arm_weights"].values())
