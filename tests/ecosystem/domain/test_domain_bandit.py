"""A7's Thompson-sampling bandit: learning, update rule, config semantics, persistence."""

from __future__ import annotations

import contextlib
import math
import random
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from reftarget.domain.bandit import Posterior, SqliteBanditStore, ThompsonBandit, reward
from reftarget.domain.storage import Database

if TYPE_CHECKING:
    from conftest import FakeClock

# Per-impression outcome rates (lead, checkout, complaint); every impression is a page view.
# Mean clipped rewards: A ≈ 0.09, B ≈ 0.23, so B is clearly the better CTA.
ARM_RATES = {"A": (0.10, 0.02, 0.02), "B": (0.30, 0.15, 0.01)}


def simulate(bandit: ThompsonBandit, env: random.Random, rounds: int) -> list[str]:
    """Show ``rounds`` impressions, feed back each one's reward, return the arms chosen."""
    chosen = []
    for _ in range(rounds):
        arm = bandit.choose()
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


@pytest.mark.parametrize(
    ("r", "expected"),
    [
        (0.3, Posterior(1.3, 1.7)),
        (1.0, Posterior(2.0, 1.0)),
        (-0.4, Posterior(1.0, 2.0)),
        (1.5, Posterior(2.0, 1.0)),
        (0.0, Posterior(1.0, 2.0)),
    ],
)
def test_update_counts_the_clipped_reward_as_a_fractional_success(
    r: float, expected: Posterior, clock: FakeClock
) -> None:
    bandit = ThompsonBandit(["A", "B"], random.Random(0), clock=clock)
    result = bandit.update("B", r)
    assert result.applied == min(1.0, max(0.0, r))
    assert bandit.posteriors()["B"] == pytest.approx(expected)
    assert bandit.posteriors()["A"] == Posterior(1.0, 1.0)


def test_unknown_arm_and_non_finite_reward_are_refused(clock: FakeClock) -> None:
    bandit = ThompsonBandit(["A", "B"], random.Random(0), clock=clock)
    with pytest.raises(ValueError, match="unknown arm"):
        bandit.update("Z", 0.5)
    with pytest.raises(ValueError, match="finite"):
        bandit.update("A", math.nan)
    assert bandit.posteriors() == {"A": Posterior(), "B": Posterior()}


def test_choose_follows_the_posteriors(clock: FakeClock) -> None:
    bandit = ThompsonBandit(["A", "B"], random.Random(5), clock=clock)
    for _ in range(60):
        bandit.update("A", 0.0)
        bandit.update("B", 1.0)
    picks = [bandit.choose() for _ in range(200)]
    assert picks.count("B") >= 198


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
    assert result.emitted[0].fields == after

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
