"""Resolving the B2C micro SKU's Stripe Price by lookup key (contract §7).

Why by lookup key: a price id differs between Stripe accounts and between the embedded fake
and real Stripe; the lookup key is the stable name A2 owns. The price is found with
``prices.list(lookup_keys=[key])`` and created once when absent.

"Created once" holds on both backends:

- real Stripe honours the ``Idempotency-Key`` sent with the create; the key is derived from
  (lookup key, currency, amount, the price being replaced), so concurrent resolvers that saw
  the same state send the same key and get the same price;
- the embedded fake ignores that header, but a lookup key is unique there as on Stripe, so a
  losing racer's create is refused and it returns the winner's price.

When the amount changes (A4's unit cost moved, so ``micro_price_cents`` did) a *new* price is
created on the same product with ``transfer_lookup_key=true``: Stripe prices are immutable in
amount, and moving the key is atomic, so every later lookup sees the new amount and the old
price stays valid for anything that already refers to it. Two racers doing that transfer at
once may both create a price (the fake has no idempotency); both carry the right amount and the
key ends on one of them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import stripe

from reftarget.money import micro_price_cents

__all__ = ["MICRO_SKU_CURRENCY", "PriceRef", "micro_sku_lookup_key", "resolve_micro_price"]

MICRO_SKU_CURRENCY = "usd"
MICRO_SKU_KEY_PREFIX = "micro_sku_usd_"
_LOOKUP_KEY_MAX = 200  # Stripe's limit


@dataclass(frozen=True)
class PriceRef:
    """The Stripe Price that the micro SKU currently resolves to."""

    id: str
    unit_amount: int
    currency: str
    lookup_key: str
    product_id: str


def micro_sku_lookup_key(kind: str) -> str:
    """The lookup key of one work kind's micro SKU: one key per kind, because kinds differ in
    price and one key shared by all would move between prices on every other checkout."""
    return MICRO_SKU_KEY_PREFIX + kind


def resolve_micro_price(
    client: stripe.StripeClient,
    *,
    unit_cost_cents: int,
    lookup_key: str = MICRO_SKU_KEY_PREFIX + "lesson",
    locked: bool = True,
) -> PriceRef:
    """The price for ``lookup_key`` at ``micro_price_cents(unit_cost_cents)``, created if needed.

    ``locked=False`` is the ``sku_resolve_lock`` fault: the resolver behaves as a racer that
    lost the lock and never re-reads, so every call creates a Price and takes the key over
    (``transfer_lookup_key``). It is deterministic on purpose, so the check that N concurrent
    resolves leave one Price fails on every run, not on a lucky interleaving.
    """
    if not lookup_key or len(lookup_key) > _LOOKUP_KEY_MAX:
        raise ValueError(f"lookup_key must be 1..{_LOOKUP_KEY_MAX} characters")
    amount = micro_price_cents(unit_cost_cents)
    if not locked:
        return _ref(_create_unlocked(client, lookup_key, amount), lookup_key)
    current = _find(client, lookup_key)
    if current is not None and _is_current(current, amount):
        return _ref(current, lookup_key)
    try:
        created = _create(client, lookup_key, amount, replacing=current)
    except stripe.InvalidRequestError:
        # Lost a race on the fake (lookup key already taken): the winner's price is the answer.
        winner = _find(client, lookup_key)
        if winner is not None and _is_current(winner, amount):
            return _ref(winner, lookup_key)
        raise
    return _ref(created, lookup_key)


def _find(client: stripe.StripeClient, lookup_key: str) -> stripe.Price | None:
    # No active filter: an archived price can still hold the key, and a create would then fail.
    found = client.v1.prices.list(params={"lookup_keys": [lookup_key], "limit": 1})
    return found.data[0] if found.data else None


def _is_current(price: stripe.Price, amount: int) -> bool:
    return (
        price.active
        and price.unit_amount == amount
        and price.currency == MICRO_SKU_CURRENCY
        and price.recurring is None
    )


def _create(
    client: stripe.StripeClient, lookup_key: str, amount: int, *, replacing: stripe.Price | None
) -> stripe.Price:
    params: stripe.params.PriceCreateParams = {
        "currency": MICRO_SKU_CURRENCY,
        "unit_amount": amount,
        "lookup_key": lookup_key,
        "metadata": {"reftarget_sku": lookup_key},
    }
    if replacing is None:
        params["product_data"] = {"name": f"Micro SKU ({lookup_key})"}
    else:
        product = replacing.product
        params["product"] = product if isinstance(product, str) else product.id
        params["transfer_lookup_key"] = True
    return client.v1.prices.create(
        params=params,
        options={"idempotency_key": _idempotency_key(lookup_key, amount, replacing)},
    )


def _create_unlocked(client: stripe.StripeClient, lookup_key: str, amount: int) -> stripe.Price:
    current = _find(client, lookup_key)
    if current is None:
        try:
            return _create(client, lookup_key, amount, replacing=None)
        except stripe.InvalidRequestError:
            current = _find(client, lookup_key)
            if current is None:
                raise
    product = current.product
    params: stripe.params.PriceCreateParams = {
        "currency": MICRO_SKU_CURRENCY,
        "unit_amount": amount,
        "lookup_key": lookup_key,
        "metadata": {"reftarget_sku": lookup_key},
        "product": product if isinstance(product, str) else product.id,
        "transfer_lookup_key": True,
    }
    return client.v1.prices.create(params=params)


def _idempotency_key(lookup_key: str, amount: int, replacing: stripe.Price | None) -> str:
    # Hashed: a 200-character lookup key plus the rest would pass Stripe's 255-character limit.
    # The replaced price is part of it so that going back to an earlier amount is a new create,
    # not a replay of the first one (whose price no longer holds the key).
    material = "\x1f".join(
        (lookup_key, MICRO_SKU_CURRENCY, str(amount), replacing.id if replacing else "")
    )
    return "reftarget-price-" + hashlib.sha256(material.encode()).hexdigest()[:40]


def _ref(price: stripe.Price, lookup_key: str) -> PriceRef:
    if price.lookup_key != lookup_key or price.unit_amount is None:
        raise RuntimeError(
            f"Stripe answered price {price.id} without lookup key {lookup_key!r} "
            f"(it has {price.lookup_key!r}); refusing to use it for the micro SKU"
        )
    product = price.product
    return PriceRef(
        id=price.id,
        unit_amount=price.unit_amount,
        currency=price.currency,
        lookup_key=lookup_key,
        product_id=product if isinstance(product, str) else product.id,
    )
