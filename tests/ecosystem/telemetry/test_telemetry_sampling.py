"""Trace-id sampling (§6, OpenTelemetry TraceIdRatioBased) and the drop-fault selector."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reftarget.telemetry import is_dropped_by_fault, is_sampled_in, sample_rate_for

from tests.ecosystem.telemetry.telemetry_testkit import trace

TENTH = 2**64 // 10  # floor(0.1 * 2**64) = 1844674407370955161 (exact value ...161.6)


def test_low_bits_zero_is_kept_at_ten_percent() -> None:
    assert is_sampled_in(trace(0), 0.1)


@pytest.mark.parametrize(
    ("low", "kept"),
    [(TENTH - 1, True), (TENTH, True), (TENTH + 1, False), (2**64 - 1, False)],
    ids=["below", "floor-of-bound", "above", "max"],
)
def test_the_bound_is_rate_times_two_to_the_64(low: int, kept: bool) -> None:
    assert is_sampled_in(trace(low), 0.1) is kept


def test_only_the_low_64_bits_decide() -> None:
    for high in (0x1, 0xFFFF_FFFF_FFFF_FFFF):
        assert is_sampled_in(trace(5, high), 0.1)
        assert not is_sampled_in(trace(TENTH + 5, high), 0.1)


def test_rate_one_keeps_every_trace_and_zero_none() -> None:
    assert is_sampled_in(trace(2**64 - 1), 1.0)
    assert not is_sampled_in(trace(0), 0.0)


@pytest.mark.parametrize(
    ("name", "status", "rate"),
    [
        ("http_request", 200, 0.1),
        ("http_request", 302, 0.1),
        ("cta_impression", None, 0.1),
        ("http_request", 503, 1.0),
        ("cta_impression", 500, 1.0),
        ("http_request", 404, 1.0),
        ("checkout_completed", 200, 1.0),
        ("revenue_settled", None, 1.0),
        ("credit_decrement", 201, 1.0),
        ("identity_ok", 200, 1.0),
        ("run_progress", None, 1.0),
    ],
)
def test_sample_rates(name: str, status: int | None, rate: float) -> None:
    assert sample_rate_for(name, status) == rate


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("http_request", 500),
        ("http_request", 599),
        ("checkout_completed", 200),
        ("revenue_settled", None),
        ("credit_decrement", 200),
    ],
)
def test_errors_and_finance_are_always_kept(name: str, status: int | None) -> None:
    worst = trace(2**64 - 1)  # the id every rate below 1 drops
    assert is_sampled_in(worst, sample_rate_for(name, status))


def test_malformed_trace_ids_raise() -> None:
    with pytest.raises(ValueError, match="trace id"):
        is_sampled_in("ABC", 0.5)


@settings(max_examples=25, database=None, deadline=None)
@given(seed=st.integers(0, 2**32), rate=st.floats(0.02, 0.98))
def test_kept_fraction_of_random_ids_is_the_rate(seed: int, rate: float) -> None:
    rng = random.Random(seed)
    n = 3000
    kept = sum(is_sampled_in(f"{rng.getrandbits(128) | 1:032x}", rate) for _ in range(n))
    sigma = (n * rate * (1 - rate)) ** 0.5
    assert abs(kept - n * rate) <= 5 * sigma + 1


@settings(max_examples=200, database=None, deadline=None)
@given(low=st.integers(0, 2**64 - 1), rate=st.sampled_from([0.1, 0.25, 0.5, 1.0, 0.001]))
def test_decision_is_exactly_low_bits_below_rate_times_2_64(low: int, rate: float) -> None:
    assert is_sampled_in(trace(low), rate) is (low < Fraction(str(rate)) * 2**64)


def test_drop_fault_is_deterministic_and_independent_of_sampling() -> None:
    rng = random.Random(7)
    ids = [f"{rng.getrandbits(128) | 1:032x}" for _ in range(20_000)]
    sampled = [t for t in ids if is_sampled_in(t, 0.1)]
    dropped = [t for t in sampled if is_dropped_by_fault(t, 0.5)]
    assert 0.44 < len(dropped) / len(sampled) < 0.56  # half of the sampled-in, not all or none
    assert all(is_dropped_by_fault(t, 0.5) for t in dropped)
    assert not any(is_dropped_by_fault(t, 0.0) for t in ids[:100])
    assert all(is_dropped_by_fault(t, 1.0) for t in ids[:100])
