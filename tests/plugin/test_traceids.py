"""Trace ids, idempotency keys and the contract §6 sampling rule, as the harness applies them."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from secondconf.contract.traceids import (
    is_sampled_in,
    is_valid_idempotency_key,
    is_valid_trace_id,
    low64,
    new_idempotency_key,
    new_sampled_in_trace_id,
    new_trace_id,
    sample_rate_for,
    sampling_threshold,
)

SPAN = 2**64


def trace_id_with_low64(value: int, high: int = 1) -> str:
    return f"{high:016x}{value:016x}"


def test_a_new_trace_id_is_32_lowercase_hex_digits() -> None:
    trace_id = new_trace_id()
    assert len(trace_id) == 32
    assert set(trace_id) <= set("0123456789abcdef")
    assert is_valid_trace_id(trace_id)


def test_a_new_trace_id_is_never_all_zero_even_when_the_rng_says_so() -> None:
    class ZeroFirst(random.Random):
        calls = 0

        def getrandbits(self, k: int, /) -> int:
            self.calls += 1
            return 0 if self.calls == 1 else super().getrandbits(k)

    rng = ZeroFirst(7)
    assert new_trace_id(rng) != "0" * 32
    assert rng.calls == 2


def test_a_seeded_rng_makes_trace_ids_reproducible() -> None:
    assert new_trace_id(random.Random(3)) == new_trace_id(random.Random(3))


@pytest.mark.parametrize(
    "value",
    ["0" * 32, "A" * 32, "a" * 31, "a" * 33, "g" * 32, "", "00-" + "a" * 29],
)
def test_malformed_trace_ids_are_invalid(value: str) -> None:
    assert not is_valid_trace_id(value)
    with pytest.raises(ValueError, match="not a W3C trace id"):
        low64(value)


def test_low64_reads_the_last_16_hex_digits_as_unsigned() -> None:
    assert low64("ffffffffffffffff" + "0000000000000001") == 1
    assert low64("0000000000000001" + "ffffffffffffffff") == SPAN - 1


def test_low64_zero_is_kept_at_one_tenth() -> None:
    assert is_sampled_in(trace_id_with_low64(0), 0.1)


def test_exactly_rate_times_2_64_is_not_kept() -> None:
    assert not is_sampled_in(trace_id_with_low64(SPAN // 2), 0.5)
    assert is_sampled_in(trace_id_with_low64(SPAN // 2 - 1), 0.5)


def test_the_one_tenth_boundary_is_the_exact_decimal_product() -> None:
    # 0.1 x 2^64 = 1844674407370955161.6: the floor is below it, the ceiling is not.
    assert sampling_threshold(0.1) == 1844674407370955162
    assert is_sampled_in(trace_id_with_low64(1844674407370955161), 0.1)
    assert not is_sampled_in(trace_id_with_low64(1844674407370955162), 0.1)


def test_rate_one_keeps_every_id_and_rate_zero_none() -> None:
    assert is_sampled_in(trace_id_with_low64(SPAN - 1), 1.0)
    assert not is_sampled_in(trace_id_with_low64(0), 0.0)


@pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan")])
def test_a_rate_outside_zero_to_one_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="within"):
        is_sampled_in(new_trace_id(), rate)


@settings(max_examples=15, deadline=None, database=None)
@given(rate=st.floats(min_value=0.02, max_value=0.98), seed=st.integers(0, 2**32))
def test_the_kept_fraction_is_close_to_the_rate(rate: float, seed: int) -> None:
    rng = random.Random(seed)
    n = 4000
    kept = sum(is_sampled_in(new_trace_id(rng), rate) for _ in range(n))
    sigma = (rate * (1 - rate) / n) ** 0.5
    assert abs(kept / n - rate) < 5 * sigma


@settings(max_examples=100, database=None)
@given(
    bits=st.integers(1, 2**128 - 1),
    rates=st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0)).map(sorted),
)
def test_a_trace_kept_at_a_rate_is_kept_at_every_higher_rate(bits: int, rates: list[float]) -> None:
    trace_id = f"{bits:032x}"
    low, high = rates
    assert not is_sampled_in(trace_id, low) or is_sampled_in(trace_id, high)


@pytest.mark.parametrize(
    ("event", "status", "rate"),
    [
        ("http_request", 200, 0.1),
        ("http_request", None, 0.1),
        ("cta_impression", 200, 0.1),
        ("http_request", 503, 1.0),
        ("cta_impression", 500, 1.0),
        ("http_request", 404, 1.0),
        ("checkout_completed", 200, 1.0),
        ("revenue_settled", None, 1.0),
        ("credit_decrement", 201, 1.0),
        ("identity_ok", 200, 1.0),
        ("page_published", None, 1.0),
    ],
)
def test_sample_rate_follows_contract_section_6(
    event: str, status: int | None, rate: float
) -> None:
    assert sample_rate_for(event, status) == rate


def test_new_idempotency_keys_are_valid_and_distinct() -> None:
    keys = {new_idempotency_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(is_valid_idempotency_key(key) and key.startswith("qa-") for key in keys)


@pytest.mark.parametrize("key", ["", "a,b", "with space", "é", "x" * 256])
def test_malformed_idempotency_keys_are_invalid(key: str) -> None:
    assert not is_valid_idempotency_key(key)


def test_sampled_in_trace_ids_are_valid_and_always_kept_at_their_rate() -> None:
    rng = random.Random(7)
    ids = [new_sampled_in_trace_id(0.1, rng) for _ in range(2000)]
    assert all(is_valid_trace_id(t) and is_sampled_in(t, 0.1) for t in ids)
    assert len(set(ids)) == len(ids)
    assert not all(is_sampled_in(t, 0.05) for t in ids)  # low bits spread over the whole range


def test_no_trace_id_is_sampled_in_at_rate_zero() -> None:
    with pytest.raises(ValueError, match="rate 0"):
        new_sampled_in_trace_id(0.0)
