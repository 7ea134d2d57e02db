"""resolve_micro_price: found by lookup key, created once, moved when the amount changes."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import stripe
from reftarget.money import micro_price_cents
from reftarget.payments import PriceRef, resolve_micro_price


def _prices_with_key(client: stripe.StripeClient, lookup_key: str) -> list[stripe.Price]:
    return list(client.v1.prices.list(params={"lookup_keys": [lookup_key], "limit": 100}).data)


def _prices_of_sku(client: stripe.StripeClient, lookup_key: str) -> list[stripe.Price]:
    """Every price this SKU ever got, whether or not it still holds the key."""
    every = client.v1.prices.list(params={"limit": 100}).auto_paging_iter()
    return [p for p in every if p.metadata.to_dict().get("reftarget_sku") == lookup_key]


def test_first_resolution_creates_the_price_at_the_micro_price(
    client: stripe.StripeClient, unique: str
) -> None:
    key = f"micro_{unique}"

    ref = resolve_micro_price(client, unit_cost_cents=20, lookup_key=key)

    assert ref == PriceRef(
        id=ref.id, unit_amount=80, currency="usd", lookup_key=key, product_id=ref.product_id
    )
    assert [p.id for p in _prices_with_key(client, key)] == [ref.id]


def test_cheap_unit_cost_resolves_to_the_50_cent_floor(
    client: stripe.StripeClient, unique: str
) -> None:
    ref = resolve_micro_price(client, unit_cost_cents=3, lookup_key=f"floor_{unique}")

    assert ref.unit_amount == 50 == micro_price_cents(3)


def test_second_resolution_finds_the_same_price_without_creating(
    client: stripe.StripeClient, unique: str
) -> None:
    key = f"micro_{unique}"
    first = resolve_micro_price(client, unit_cost_cents=10, lookup_key=key)

    second = resolve_micro_price(client, unit_cost_cents=10, lookup_key=key)

    assert second == first
    assert len(_prices_of_sku(client, key)) == 1


def test_a_price_created_elsewhere_is_found_by_its_lookup_key(
    client: stripe.StripeClient, unique: str
) -> None:
    key = f"preexisting_{unique}"
    existing = client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 50,
            "lookup_key": key,
            "product_data": {"name": "made by hand"},
        }
    )

    assert resolve_micro_price(client, unit_cost_cents=10, lookup_key=key).id == existing.id


def test_changed_unit_cost_moves_the_key_to_a_new_price_on_the_same_product(
    client: stripe.StripeClient, unique: str
) -> None:
    key = f"repriced_{unique}"
    old = resolve_micro_price(client, unit_cost_cents=10, lookup_key=key)

    new = resolve_micro_price(client, unit_cost_cents=30, lookup_key=key)

    assert (new.unit_amount, new.lookup_key) == (120, key)
    assert new.id != old.id
    old_price = client.v1.prices.retrieve(old.id)
    assert old_price.lookup_key is None
    assert client.v1.prices.retrieve(new.id).product == old_price.product


def test_concurrent_first_resolutions_create_one_price(
    client: stripe.StripeClient, unique: str
) -> None:
    key = f"race_{unique}"
    start = threading.Barrier(6)

    def resolve() -> PriceRef:
        start.wait(timeout=10)
        return resolve_micro_price(client, unit_cost_cents=10, lookup_key=key)

    with ThreadPoolExecutor(max_workers=6) as pool:
        refs = list(pool.map(lambda _: resolve(), range(6)))

    assert len({ref.id for ref in refs}) == 1
    assert len(_prices_of_sku(client, key)) == 1
