"""The harness's money model against amounts worked out by hand (contract §7).

Each expected value below was computed on paper, not by any code: gross × 3 % written out
as a decimal, then rounded half up to the cent. The banker's-rounding column shows where a
``round()`` would disagree, which is what these cases are for.
"""

from __future__ import annotations

import ast
from decimal import Decimal
from pathlib import Path

import pytest
from secondconf.checks.monetization import model

# gross cents -> (gross x 0.03 by hand, the fee rounded half up)
HAND_WORKED_FEES = {
    0: ("0.00", 0),
    1: ("0.03", 0),
    16: ("0.48", 0),
    17: ("0.51", 1),
    33: ("0.99", 1),
    49: ("1.47", 1),
    50: ("1.50", 2),  # half a cent: up
    83: ("2.49", 2),
    116: ("3.48", 3),
    117: ("3.51", 4),
    150: ("4.50", 5),  # banker's rounding would say 4
    250: ("7.50", 8),
    350: ("10.50", 11),  # banker's rounding would say 10
    1650: ("49.50", 50),
    9950: ("298.50", 299),
    10_000: ("300.00", 300),
    123_456: ("3703.68", 3704),
}


@pytest.mark.parametrize(("gross", "worked"), HAND_WORKED_FEES.items())
def test_the_fee_is_the_hand_worked_one(gross: int, worked: tuple[str, int]) -> None:
    assert model.fee_cents(gross) == worked[1]
    assert model.net_cents(gross) == gross - worked[1]


def test_the_hand_worked_fees_are_what_they_say() -> None:
    """The written-out products are right, so a wrong table cannot pass the model."""
    for gross, (product, _) in HAND_WORKED_FEES.items():
        assert Decimal(gross) * Decimal("0.03") == Decimal(product)


def test_another_rate_rounds_half_up_too() -> None:
    assert model.fee_cents(20, Decimal("0.025")) == 1  # 0.5
    assert model.fee_cents(100, Decimal("0.025")) == 3  # 2.5
    assert model.fee_cents(59, Decimal("0.025")) == 1  # 1.475
    assert model.fee_cents(1000, Decimal("0")) == 0


def test_work_is_billed_at_four_times_its_cost() -> None:
    assert [model.billed_cents(c) for c in (0, 1, 3, 12, 13, 40)] == [0, 4, 12, 48, 52, 160]


def test_the_micro_price_is_the_floor_until_four_times_the_cost_passes_it() -> None:
    cases = {0: 50, 3: 50, 12: 50, 13: 52, 40: 160, 125: 500}
    assert {c: model.micro_price_cents(c) for c in cases} == cases


def test_the_half_cent_boundaries_are_every_hundred_from_fifty() -> None:
    # 3 × g / 100 ends in .5 exactly when 3g ≡ 50 (mod 100), i.e. g ≡ 50 (mod 100).
    assert model.half_cent_boundaries(0, 400) == [50, 150, 250, 350]
    assert model.is_half_cent_boundary(150)
    assert not model.is_half_cent_boundary(149)
    assert model.half_cent_boundaries(0, 100, Decimal("0.025")) == [20, 60, 100]


@pytest.mark.parametrize("bad", [-1, 1.5, True, "50"])
def test_an_amount_that_is_not_cents_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="gross_cents"):
        model.fee_cents(bad)  # type: ignore[arg-type]


def test_a_float_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        model.fee_cents(100, 0.03)  # type: ignore[arg-type]


def test_the_model_shares_no_code_with_the_reference_target() -> None:
    source = Path(model.__file__).read_text()
    imported = {
        alias.name if isinstance(node, ast.Import) else (node.module or "")
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not any(name.startswith("reftarget") for name in imported), imported
    assert "quantize" not in source
    assert "ROUND_HALF_UP" not in source
