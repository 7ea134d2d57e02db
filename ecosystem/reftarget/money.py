"""Integer-cents money arithmetic for the reference target (contract §7).

Why a module of its own: every app that bills (A2 micro-charges, A4 work cost, A6 provider
fees) must round the same way, and the harness checks amounts to the cent. So amounts are
``int`` cents, rates are ``Decimal``, and the one rounding rule (half up, i.e. half away from
zero, as Python's ``decimal.ROUND_HALF_UP``) lives here. A ``float`` is refused everywhere:
``0.03 * 150`` is ``4.499999…`` in binary floating point and would round to 4, not 5.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

__all__ = [
    "FINANCE_METRICS_FIELDS",
    "MICRO_MARKUP",
    "MICRO_PRICE_FLOOR_CENTS",
    "PROVIDER_FEE_RATE",
    "WORK_MARKUP",
    "finance_metrics",
    "marked_up_cents",
    "micro_price_cents",
    "provider_fee_cents",
    "round_half_up",
]

PROVIDER_FEE_RATE = Decimal("0.03")
"""B2B provider fee rate (contract §7)."""

WORK_MARKUP = 4
"""A4 work is sold at four times its cost."""

MICRO_MARKUP = 4
"""The B2C micro SKU costs four times A4's unit cost ..."""

MICRO_PRICE_FLOOR_CENTS = 50
"""... but never less than Stripe's USD minimum charge, 50 cents."""

FINANCE_METRICS_FIELDS: tuple[str, ...] = (
    "currency",
    "gross_cents",
    "fee_rate",
    "fee_cents",
    "cost_cents",
    "markup",
    "billed_cents",
    "net_cents",
    "stripe_object_id",
)
"""Keys of a ``finance_metrics`` object, in contract §7 order."""

_ONE = Decimal(1)


def round_half_up(amount: Decimal) -> int:
    """Round a Decimal amount of cents to whole cents, halves away from zero (2.5 → 3).

    ``round()`` is banker's rounding (2.5 → 2), hence the explicit Decimal quantize.
    """
    value = _require_decimal("amount", amount)
    if not value.is_finite():
        raise ValueError(f"amount must be finite, got {value}")
    return int(value.quantize(_ONE, rounding=ROUND_HALF_UP))


def provider_fee_cents(gross_cents: int, fee_rate: Decimal = PROVIDER_FEE_RATE) -> int:
    """The platform fee on a provider's gross, ``round_half_up(gross × rate)``."""
    _check_cents("gross_cents", gross_cents)
    _check_rate("fee_rate", fee_rate)
    return round_half_up(Decimal(gross_cents) * fee_rate)


def marked_up_cents(cost_cents: int, markup: int = WORK_MARKUP) -> int:
    """What a user or provider is billed for work that cost ``cost_cents``."""
    _check_cents("cost_cents", cost_cents)
    _check_markup(markup)
    return cost_cents * markup


def micro_price_cents(unit_cost_cents: int) -> int:
    """The B2C micro SKU's price: ``max(50, 4 × unit_cost_cents)`` cents."""
    return max(MICRO_PRICE_FLOOR_CENTS, marked_up_cents(unit_cost_cents, MICRO_MARKUP))


def finance_metrics(
    *,
    currency: str = "usd",
    gross_cents: int | None = None,
    fee_rate: Decimal | None = None,
    fee_cents: int | None = None,
    cost_cents: int | None = None,
    markup: int | None = None,
    billed_cents: int | None = None,
    net_cents: int | None = None,
    stripe_object_id: str | None = None,
) -> dict[str, str | int | None]:
    """The ``finance_metrics`` object of a telemetry event: every key present, null if not relevant.

    A rate is serialised as a decimal string ("0.03") so that JSON never turns it into a float.
    The values are only validated, not cross-checked (a fee that disagrees with gross × rate is
    kept as given): the fault injector must be able to report a wrong fee for the harness to catch.
    """
    if not _is_str(currency) or len(currency) != 3 or not currency.isalpha():
        raise ValueError(f"currency must be a three-letter ISO code, got {currency!r}")
    if currency != currency.lower():
        raise ValueError(f"currency must be lower case like Stripe's, got {currency!r}")
    cents = {
        "gross_cents": gross_cents,
        "fee_cents": fee_cents,
        "cost_cents": cost_cents,
        "billed_cents": billed_cents,
        "net_cents": net_cents,
    }
    for name, value in cents.items():
        if value is not None:
            _check_cents(name, value)
    if fee_rate is not None:
        _check_rate("fee_rate", fee_rate)
    if markup is not None:
        _check_markup(markup)
    if stripe_object_id is not None and (not _is_str(stripe_object_id) or not stripe_object_id):
        raise ValueError("stripe_object_id must be a non-empty string or None")
    return {
        "currency": currency,
        "gross_cents": gross_cents,
        "fee_rate": None if fee_rate is None else format(fee_rate, "f"),
        "fee_cents": fee_cents,
        "cost_cents": cost_cents,
        "markup": markup,
        "billed_cents": billed_cents,
        "net_cents": net_cents,
        "stripe_object_id": stripe_object_id,
    }


# The checks below take ``object``: callers are typed, but telemetry payloads and JSON are not,
# and a float that slipped through must fail loudly rather than round wrongly.


def _is_str(value: object) -> bool:
    return isinstance(value, str)


def _require_decimal(name: str, value: object) -> Decimal:
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")
    return value


def _check_cents(name: str, value: object) -> None:
    # bool is an int subclass; True cents is a bug, not one cent.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int number of cents, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")


def _check_rate(name: str, value: object) -> None:
    value = _require_decimal(name, value)
    if not value.is_finite() or value < 0:
        raise ValueError(f"{name} must be a finite, non-negative Decimal, got {value}")


def _check_markup(markup: object) -> None:
    if isinstance(markup, bool) or not isinstance(markup, int):
        raise TypeError(f"markup must be an int multiplier, not {type(markup).__name__}")
    if markup < 1:
        raise ValueError(f"markup must be at least 1, got {markup}")
