"""The Price API shim, through the real stripe SDK: Stripe's shapes, errors and key uniqueness."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import stripe

if TYPE_CHECKING:
    from stripe.params import PriceCreateParams


def _create(client: stripe.StripeClient, **params: object) -> stripe.Price:
    body: PriceCreateParams = {
        "currency": "usd",
        "unit_amount": 50,
        "product_data": {"name": "QA micro SKU"},
    }
    body.update(params)  # type: ignore[typeddict-item]
    return client.v1.prices.create(params=body)


def test_created_price_has_stripes_shape(client: stripe.StripeClient, unique: str) -> None:
    price = _create(client, lookup_key=f"shape_{unique}")

    assert price.object == "price"
    assert price.id.startswith("price_")
    assert price.livemode is False
    assert price.active is True
    assert price.type == "one_time"
    assert (price.unit_amount, price.currency, price.lookup_key) == (50, "usd", f"shape_{unique}")
    assert isinstance(price.product, str)
    assert price.product.startswith("prod_")


def test_product_data_creates_a_retrievable_product(
    client: stripe.StripeClient, unique: str
) -> None:
    price = _create(client, product_data={"name": f"Product {unique}"})

    assert client.v1.products.retrieve(str(price.product)).name == f"Product {unique}"


def test_list_filters_by_lookup_keys(client: stripe.StripeClient, unique: str) -> None:
    wanted = _create(client, lookup_key=f"wanted_{unique}")
    _create(client, lookup_key=f"other_{unique}")

    found = client.v1.prices.list(params={"lookup_keys": [f"wanted_{unique}"]})

    assert [p.id for p in found.data] == [wanted.id]


def test_list_filters_by_active(client: stripe.StripeClient, unique: str) -> None:
    archived = _create(client, lookup_key=f"archived_{unique}", active=False)
    live = _create(client, lookup_key=f"live_{unique}")
    keys = [f"archived_{unique}", f"live_{unique}"]

    active = client.v1.prices.list(params={"lookup_keys": keys, "active": True})
    inactive = client.v1.prices.list(params={"lookup_keys": keys, "active": False})

    assert [p.id for p in active.data] == [live.id]
    assert [p.id for p in inactive.data] == [archived.id]


def test_list_is_newest_first_and_paginates(client: stripe.StripeClient, unique: str) -> None:
    first = _create(client, lookup_key=f"page1_{unique}")
    second = _create(client, lookup_key=f"page2_{unique}")
    keys = [f"page1_{unique}", f"page2_{unique}"]

    page = client.v1.prices.list(params={"lookup_keys": keys, "limit": 1})
    rest = client.v1.prices.list(
        params={"lookup_keys": keys, "limit": 1, "starting_after": page.data[0].id}
    )

    assert ([p.id for p in page.data], page.has_more) == ([second.id], True)
    assert ([p.id for p in rest.data], rest.has_more) == ([first.id], False)


def test_retrieve_returns_the_price(client: stripe.StripeClient) -> None:
    price = _create(client)

    assert client.v1.prices.retrieve(price.id).unit_amount == 50


def test_retrieving_an_unknown_price_is_resource_missing(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.prices.retrieve("price_doesnotexist")

    assert (refused.value.http_status, refused.value.code) == (404, "resource_missing")


def test_a_second_price_with_the_same_lookup_key_is_refused(
    client: stripe.StripeClient, unique: str
) -> None:
    holder = _create(client, lookup_key=f"dup_{unique}")

    with pytest.raises(stripe.InvalidRequestError) as refused:
        _create(client, lookup_key=f"dup_{unique}", unit_amount=60)

    assert (refused.value.http_status, refused.value.param) == (400, "lookup_key")
    assert holder.id in str(refused.value)
    found = client.v1.prices.list(params={"lookup_keys": [f"dup_{unique}"]})
    assert [p.id for p in found.data] == [holder.id]


def test_transfer_lookup_key_moves_the_key_to_the_new_price(
    client: stripe.StripeClient, unique: str
) -> None:
    old = _create(client, lookup_key=f"moving_{unique}")

    new = _create(client, lookup_key=f"moving_{unique}", unit_amount=80, transfer_lookup_key=True)

    assert new.lookup_key == f"moving_{unique}"
    assert client.v1.prices.retrieve(old.id).lookup_key is None
    found = client.v1.prices.list(params={"lookup_keys": [f"moving_{unique}"]})
    assert [p.id for p in found.data] == [new.id]


def test_unknown_parameters_are_refused_like_stripe(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        _create(client, recurring={"interval": "month"})

    assert refused.value.param == "recurring"
    assert "unknown parameter" in str(refused.value)


def test_an_unknown_product_is_refused(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.prices.create(
            params={"currency": "usd", "unit_amount": 50, "product": "prod_doesnotexist"}
        )

    assert (refused.value.param, refused.value.code) == ("product", "resource_missing")
