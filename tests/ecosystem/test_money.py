"""reftarget.money: integer cents, Decimal rates, round half up (contract §7)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from reftarget.money import (
    FINANCE_METRICS_FIELDS,
    finance_metrics,
    marked_up_cents,
    micro_price_cents,
    provider_fee_cents,
    round_half_up,
)

# (gross cents, exact fee in cents, expected fee): exact products written out by hand.
FEE_CASES = [
    (50, "1.50", 2),
    (150, "4.50", 5),
    (149, "4.47", 4),
    (1, "0.03", 0),
    (17, "0.51", 1),
    (16, "0.48", 0),
    (83, "2.49", 2),
    (84, "2.52", 3),
    (0, "0.00", 0),
    (250, "7.50", 8),
]


def _independent_fee(gross_cents: int) -> int:
    """The rule restated without the module: add a half cent and truncate (non-negative)."""
    exact = Decimal(gross_cents) * Decimal(3) / Decimal(100)
    return int(exact + Decimal("0.5"))


@pytest.mark.parametrize(("gross", "exact", "fee"), FEE_CASES)
def test_case_table_agrees_with_decimal_arithmetic(gross: int, exact: str, fee: int) -> None:
    product = Decimal(gross) * Decimal("0.03")
    assert product == Decimal(exact)
    assert int(product.quantize(Decimal(1), rounding=ROUND_HALF_UP)) == fee
    assert _independent_fee(gross) == fee


@pytest.mark.parametrize(("gross", "exact", "fee"), FEE_CASES)
def test_provider_fee_rounds_half_up(gross: int, exact: str, fee: int) -> None:
    assert provider_fee_cents(gross) == fee


def test_round_half_up_rounds_halves_up_not_to_even() -> None:
    assert [round_half_up(Decimal(x)) for x in ("0.5", "1.5", "2.5", "2.49", "2.51")] == [
        1,
        2,
        3,
        2,
        3,
    ]


def test_round_half_up_refuses_float() -> None:
    with pytest.raises(TypeError, match="Decimal"):
        round_half_up(4.5)  # type: ignore[arg-type]


def test_provider_fee_refuses_float_rate() -> None:
    with pytest.raises(TypeError, match="fee_rate"):
        provider_fee_cents(150, 0.03)  # type: ignore[arg-type]


def test_provider_fee_takes_another_decimal_rate() -> None:
    assert provider_fee_cents(1000, Decimal("0.125")) == 125
    assert provider_fee_cents(4, Decimal("0.125")) == 1  # 0.5 → 1


def test_markup_is_four_times_cost_by_default() -> None:
    assert marked_up_cents(13) == 52
    assert marked_up_cents(13, markup=2) == 26


@pytest.mark.parametrize(("unit_cost", "price"), [(0, 50), (1, 50), (12, 50), (13, 52), (20, 80)])
def test_micro_price_is_four_times_cost_with_a_50_cent_floor(unit_cost: int, price: int) -> None:
    assert micro_price_cents(unit_cost) == price == max(50, 4 * unit_cost)


@given(st.integers(min_value=0, max_value=10**12))
def test_fee_is_within_half_a_cent_of_exact_product(gross: int) -> None:
    exact = Decimal(gross) * Decimal("0.03")
    assert abs(Decimal(provider_fee_cents(gross)) - exact) <= Decimal("0.5")


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=10**6))
def test_fee_is_monotone_in_gross(gross: int, extra: int) -> None:
    assert provider_fee_cents(gross) <= provider_fee_cents(gross + extra)


@given(st.integers(min_value=0, max_value=10**12))
def test_fee_matches_independent_half_up(gross: int) -> None:
    assert provider_fee_cents(gross) == _independent_fee(gross)


@pytest.mark.parametrize(
    "call",
    [
        lambda: provider_fee_cents(-1),
        lambda: marked_up_cents(-1),
        lambda: micro_price_cents(-5),
        lambda: provider_fee_cents(100, Decimal("-0.03")),
        lambda: marked_up_cents(10, markup=0),
        lambda: finance_metrics(gross_cents=-1),
        lambda: finance_metrics(net_cents=-3),
        lambda: finance_metrics(currency="USD"),
    ],
    ids=[
        "negative-gross",
        "negative-cost",
        "negative-unit-cost",
        "negative-rate",
        "zero-markup",
        "negative-gross-metric",
        "negative-net-metric",
        "upper-case-currency",
    ],
)
def test_invalid_amounts_are_refused(call: object) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by field
        call()  # type: ignore[operator]


def test_bool_is_not_a_number_of_cents() -> None:
    with pytest.raises(TypeError, match="gross_cents"):
        provider_fee_cents(True)


def test_finance_metrics_has_every_key_null_when_not_relevant() -> None:
    metrics = finance_metrics()
    assert tuple(metrics) == FINANCE_METRICS_FIELDS
    assert metrics == {key: None for key in FINANCE_METRICS_FIELDS} | {"currency": "usd"}


def test_finance_metrics_serialises_rate_as_decimal_string() -> None:
    metrics = finance_metrics(
        gross_cents=150,
        fee_rate=Decimal("0.03"),
        fee_cents=5,
        net_cents=145,
        stripe_object_id="pi_123",
    )
    assert metrics["fee_rate"] == "0.03"
    assert metrics["gross_cents"] == 150
    assert metrics["stripe_object_id"] == "pi_123"
    assert metrics["markup"] is None


def test_finance_metrics_never_writes_a_rate_in_exponent_form() -> None:
    assert finance_metrics(fee_rate=Decimal("3E-2"))["fee_rate"] == "0.03"
