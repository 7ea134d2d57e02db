"""The ``sku_resolve_lock`` fault in ``resolve_micro_price`` (``locked=False``): every
resolve creates a Price and takes the key over, so the harness's MON-04 has a fault to find."""

from __future__ import annotations

import stripe
from reftarget.payments import resolve_micro_price
from reftarget.payments.pricing import micro_sku_lookup_key


def _prices_of(client: stripe.StripeClient, product: str) -> list[stripe.Price]:
    return list(client.v1.prices.list(params={"product": product, "limit": 100}).data)


def test_unlocked_every_resolve_is_a_new_price_on_one_product(
    client: stripe.StripeClient, unique: str
) -> None:
    key = f"unlocked_{unique}"
    refs = [
        resolve_micro_price(client, unit_cost_cents=40, lookup_key=key, locked=False)
        for _ in range(3)
    ]
    assert len({ref.id for ref in refs}) == 3
    assert {ref.product_id for ref in refs} == {refs[0].product_id}
    assert all(ref.unit_amount == 160 for ref in refs)
    holders = client.v1.prices.list(params={"lookup_keys": [key]}).data
    assert [p.id for p in holders] == [refs[-1].id]
    assert len(_prices_of(client, refs[0].product_id)) == 3


def test_locked_resolves_of_one_key_stay_one_price(
    client: stripe.StripeClient, unique: str
) -> None:
    key = f"locked_{unique}"
    refs = [resolve_micro_price(client, unit_cost_cents=40, lookup_key=key) for _ in range(3)]
    assert len({ref.id for ref in refs}) == 1
    assert len(_prices_of(client, refs[0].product_id)) == 1


def test_each_kind_has_its_own_lookup_key() -> None:
    assert micro_sku_lookup_key("lesson") != micro_sku_lookup_key("tutoring_session")
