"""A4's paid work: a catalog of work kinds with a unit cost, and what a call costs and bills.

Why a catalog object rather than constants: the cost of a call is the one number the B2C
micro price (``max(50, 4 × unit cost)``) and the credit decrement both derive from, so A4,
A2 and A5 must read it from one place. Billing is cost × 4 through ``reftarget.money``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reftarget import money
from reftarget.domain._validate import non_negative_int, positive_int

__all__ = ["DEFAULT_UNIT_COSTS_CENTS", "UnknownWorkKind", "WorkCatalog", "WorkResult"]

DEFAULT_UNIT_COSTS_CENTS: dict[str, int] = {
    "explain": 3,
    "quiz": 5,
    "listing_copy": 8,
    "lesson": 12,
    "essay_review": 13,
    "tutoring_session": 40,
}
"""The reference target's work kinds (cents per unit). ``lesson`` prices the micro SKU at
``max(50, 48)`` = 50 cents, the $0.50 B2C checkout; ``essay_review`` (52 cents) and
``tutoring_session`` (160 cents) are the kinds whose 4x cost is above the 50-cent floor,
so both branches of ``max(50, 4 x unit cost)`` are reachable (13 is the first such cost)."""


class UnknownWorkKind(ValueError):
    """A4 does not offer that kind of work."""


@dataclass(frozen=True)
class WorkResult:
    """One call's cost and what it is sold for."""

    kind: str
    units: int
    unit_cost_cents: int
    cost_cents: int
    markup: int
    billed_cents: int
    finance_metrics: dict[str, Any]


class WorkCatalog:
    """Work kinds and their unit cost in cents (default: :data:`DEFAULT_UNIT_COSTS_CENTS`)."""

    def __init__(
        self, unit_costs_cents: Mapping[str, int] | None = None, *, markup: int = money.WORK_MARKUP
    ) -> None:
        costs = dict(DEFAULT_UNIT_COSTS_CENTS if unit_costs_cents is None else unit_costs_cents)
        if not costs:
            raise ValueError("a work catalog needs at least one kind")
        for kind, cost in costs.items():
            if not isinstance(kind, str) or not kind:
                raise ValueError("work kinds must be non-empty strings")
            non_negative_int(f"unit cost of {kind!r}", cost)
        self._costs = costs
        self.markup = markup

    def kinds(self) -> dict[str, int]:
        """Every kind and its unit cost in cents."""
        return dict(self._costs)

    def unit_cost_cents(self, kind: str) -> int:
        try:
            return self._costs[kind]
        except KeyError:
            raise UnknownWorkKind(
                f"unknown work kind {kind!r}; known: {sorted(self._costs)}"
            ) from None

    def micro_price_cents(self, kind: str) -> int:
        """The B2C micro SKU price for one unit of ``kind``: ``max(50, 4 × unit cost)``."""
        return money.micro_price_cents(self.unit_cost_cents(kind))

    def perform(self, kind: str, units: int = 1) -> WorkResult:
        """Do ``units`` of ``kind``: cost = unit cost × units, billed = cost × markup."""
        positive_int("units", units)
        unit_cost = self.unit_cost_cents(kind)
        cost = unit_cost * units
        billed = money.marked_up_cents(cost, self.markup)
        metrics = money.finance_metrics(cost_cents=cost, markup=self.markup, billed_cents=billed)
        return WorkResult(kind, units, unit_cost, cost, self.markup, billed, metrics)
