"""The impression reward of contract §8, to the exact decimal."""

from __future__ import annotations

import itertools

import pytest
from reftarget.domain.bandit import REWARD_MAX, REWARD_MIN, reward


@pytest.mark.parametrize(
    ("pv", "lead", "checkout", "complaint", "expected"),
    [
        (0, 0, 0, 0, 0.0),
        (1, 0, 0, 0, 0.05),
        (0, 1, 0, 0, 0.3),
        (0, 0, 1, 0, 0.65),
        (0, 0, 0, 1, -0.4),
        (1, 1, 0, 0, 0.35),
        (0, 1, 1, 0, 0.95),
        (1, 1, 1, 0, 1.0),
        (1, 0, 0, 1, -0.35),
        (1, 1, 1, 1, 0.6),
        (True, False, True, False, 0.7),
    ],
)
def test_reward_is_the_contract_weighted_sum(
    pv: int, lead: int, checkout: int, complaint: int, expected: float
) -> None:
    assert reward(pv, lead, checkout, complaint) == expected


def test_reward_stays_within_its_documented_bounds() -> None:
    values = [reward(*flags) for flags in itertools.product((0, 1), repeat=4)]
    assert min(values) == REWARD_MIN == -0.4
    assert max(values) == REWARD_MAX == 1.0


@pytest.mark.parametrize("bad", [2, -1, 0.5])
def test_reward_refuses_anything_but_an_indicator(bad: float) -> None:
    with pytest.raises(ValueError, match="lead"):
        reward(1, bad, 0, 0)  # type: ignore[arg-type]
