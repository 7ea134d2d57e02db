"""A4 work: cost per call and what it is billed for."""

from __future__ import annotations

import pytest
from reftarget.domain.work import DEFAULT_UNIT_COSTS_CENTS, UnknownWorkKind, WorkCatalog


def test_cost_is_unit_cost_times_units_and_billed_is_four_times_cost() -> None:
    result = WorkCatalog({"quiz": 5}).perform("quiz", 3)
    assert (result.unit_cost_cents, result.cost_cents, result.billed_cents) == (5, 15, 60)
    assert result.finance_metrics["cost_cents"] == 15
    assert result.finance_metrics["billed_cents"] == 60
    assert result.finance_metrics["markup"] == 4


def test_micro_price_is_four_times_the_unit_cost_but_at_least_fifty_cents() -> None:
    catalog = WorkCatalog({"cheap": 3, "dear": 20})
    assert catalog.micro_price_cents("cheap") == 50
    assert catalog.micro_price_cents("dear") == 80


def test_the_default_lesson_is_the_fifty_cent_micro_sku() -> None:
    assert WorkCatalog().micro_price_cents("lesson") == 50
    assert WorkCatalog().kinds() == DEFAULT_UNIT_COSTS_CENTS


def test_unknown_kind_is_a_value_error() -> None:
    with pytest.raises(UnknownWorkKind, match="poetry"):
        WorkCatalog().perform("poetry")
    assert issubclass(UnknownWorkKind, ValueError)


@pytest.mark.parametrize(("units", "error"), [(0, ValueError), (True, TypeError)])
def test_units_must_be_a_positive_int(units: int, error: type[Exception]) -> None:
    with pytest.raises(error, match="units"):
        WorkCatalog().perform("quiz", units)
