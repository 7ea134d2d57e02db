"""The harness's own money model (contract §7): what every amount must be, in integer cents.

Written apart from any target's code on purpose: a check that reused the target's rounding
would agree with the target's bug. The rounding here is exact rational arithmetic: a
Decimal rate is turned into the fraction ``numerator / denominator`` it denotes, and
``round_half_up(gross × rate)`` is ``floor((2 × gross × numerator + denominator) /
(2 × denominator))``, so no float and no Decimal context (precision, rounding mode) is
involved at all.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

PROVIDER_FEE_RATE: Final = Decimal("0.03")
WORK_MARKUP: Final = 4
MICRO_FLOOR_CENTS: Final = 50  # Stripe's USD minimum charge
CURRENCY: Final = "usd"


def _cents(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative int number of cents, got {value!r}")
    return value


def fee_cents(gross_cents: int, rate: Decimal = PROVIDER_FEE_RATE) -> int:
    """``round_half_up(gross × rate)`` to the cent (4.5 → 5, 4.49 → 4)."""
    gross = _cents("gross_cents", gross_cents)
    if not isinstance(rate, Decimal) or not rate.is_finite() or rate < 0:
        raise ValueError(f"rate must be a finite, non-negative Decimal, got {rate!r}")
    numerator, denominator = rate.as_integer_ratio()
    return (2 * gross * numerator + denominator) // (2 * denominator)


def net_cents(gross_cents: int, rate: Decimal = PROVIDER_FEE_RATE) -> int:
    """What the provider is paid out: gross less the fee."""
    return gross_cents - fee_cents(gross_cents, rate)


def billed_cents(cost_cents: int) -> int:
    """A4 work sold at four times its cost."""
    return _cents("cost_cents", cost_cents) * WORK_MARKUP


def micro_price_cents(unit_cost_cents: int) -> int:
    """The B2C micro SKU's price: ``max(50, 4 × unit cost)`` cents USD."""
    return max(MICRO_FLOOR_CENTS, billed_cents(unit_cost_cents))


def is_half_cent_boundary(gross_cents: int, rate: Decimal = PROVIDER_FEE_RATE) -> bool:
    """Whether ``gross × rate`` ends in exactly half a cent (where rounding modes differ)."""
    numerator, denominator = rate.as_integer_ratio()
    return (2 * gross_cents * numerator) % (2 * denominator) == denominator


def half_cent_boundaries(
    low_cents: int, high_cents: int, rate: Decimal = PROVIDER_FEE_RATE
) -> list[int]:
    """Every gross in ``[low, high]`` whose fee is exactly half a cent before rounding."""
    return [g for g in range(low_cents, high_cents + 1) if is_half_cent_boundary(g, rate)]
