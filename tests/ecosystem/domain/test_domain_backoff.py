"""Exponential backoff with full jitter: bounds, the cap, and jitter that is really random."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from reftarget.domain.resilience import Backoff
from scipy import stats


@given(
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    base=st.floats(min_value=0.001, max_value=5.0),
    cap_factor=st.floats(min_value=1.0, max_value=1000.0),
    attempt=st.integers(min_value=0, max_value=64),
)
def test_full_jitter_stays_within_zero_and_the_capped_exponential(
    seed: int, base: float, cap_factor: float, attempt: int
) -> None:
    cap = base * cap_factor
    backoff = Backoff(base, cap, rng=random.Random(seed))
    delay = backoff.delay(attempt)
    assert 0.0 <= delay <= min(cap, base * 2.0**attempt)


def test_ceiling_doubles_from_base_then_holds_at_the_cap() -> None:
    backoff = Backoff(0.1, 1.0)
    assert [backoff.ceiling(n) for n in range(6)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert backoff.ceiling(5000) == 1.0  # no float overflow far past the cap


def test_saturated_full_jitter_is_uniform_not_a_point_mass_at_the_cap() -> None:
    backoff = Backoff(0.5, 4.0, rng=random.Random(7))
    delays = [backoff.delay(10) for _ in range(2000)]
    assert len(set(delays)) >= 0.99 * len(delays)
    assert sum(d == 4.0 for d in delays) / len(delays) < 0.05
    assert stats.kstest([d / 4.0 for d in delays], "uniform").pvalue > 1e-3


def test_equal_jitter_keeps_the_upper_half_and_none_is_exact() -> None:
    equal = Backoff(1.0, 8.0, "equal", rng=random.Random(3))
    assert all(2.0 <= equal.delay(2) <= 4.0 for _ in range(500))
    assert Backoff(1.0, 8.0, "none").delay(2) == 4.0


def test_same_seed_same_delays() -> None:
    first = Backoff(0.2, 10.0, rng=random.Random(42))
    second = Backoff(0.2, 10.0, rng=random.Random(42))
    assert [first.delay(n) for n in range(8)] == [second.delay(n) for n in range(8)]


@pytest.mark.parametrize(
    ("base", "cap", "jitter"), [(0.0, 1.0, "full"), (2.0, 1.0, "full"), (1.0, 2.0, "decorrelated")]
)
def test_nonsense_configuration_is_refused(base: float, cap: float, jitter: str) -> None:
    with pytest.raises(ValueError, match=r"base_s|cap_s|jitter"):
        Backoff(base, cap, jitter)  # type: ignore[arg-type]


def test_negative_attempt_is_refused() -> None:
    with pytest.raises(ValueError, match="attempt"):
        Backoff(1.0, 2.0).delay(-1)
