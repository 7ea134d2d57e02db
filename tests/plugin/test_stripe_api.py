"""The read-only Stripe client: where the secret key may go, paging, and bad answers."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from secondconf.core.secret import Secret
from secondconf.target.stripe_api import StripeReader, StripeReadError

from tests.plugin.system_maps import system_map_at

KEY = Secret("STRIPE_SECRET_KEY", "sk_test_not_a_real_key_123")


def _price(n: int) -> dict[str, Any]:
    return {
        "id": f"price_{n}",
        "object": "price",
        "unit_amount": 50 + n,
        "currency": "usd",
        "lookup_key": "k" if n == 0 else None,
        "product": "prod_1",
        "active": True,
    }


def _read(
    handler: Callable[[httpx.Request], httpx.Response],
    stripe_api_base: str | None,
    env: str = "staging",
    **query: str,
) -> Any:
    system_map = dataclasses.replace(
        system_map_at("https://x.test", env=env), stripe_api_base=stripe_api_base
    )

    async def read() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await StripeReader(client, system_map, KEY).prices(**query)

    return asyncio.run(read())


def _never(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"sent {request.url}")


@pytest.mark.parametrize(
    ("base", "env"),
    [("http://stripe.example", "embedded"), ("http://127.0.0.1:8420", "staging")],
)
def test_the_key_goes_only_over_tls_or_to_loopback_in_embedded(base: str, env: str) -> None:
    with pytest.raises(StripeReadError) as caught:
        _read(_never, base, env, lookup_key="k")
    assert "must be https" in str(caught.value)
    assert "STRIPE_SECRET_KEY not sent" in str(caught.value)
    assert KEY.reveal() not in str(caught.value)


def test_without_a_base_in_the_map_it_reads_stripe_itself_with_the_key() -> None:
    seen: list[httpx.Request] = []

    def stripe(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": [_price(0)], "has_more": False})

    prices = _read(stripe, None, lookup_key="k")
    assert [p.id for p in prices] == ["price_0"]
    assert str(seen[0].url).startswith("https://api.stripe.com/v1/prices?")
    assert seen[0].url.params["lookup_keys[0]"] == "k"
    assert seen[0].headers["authorization"] == f"Bearer {KEY.reveal()}"


def test_a_list_is_read_through_every_page() -> None:
    pages = {None: ([0, 1], True), "price_1": ([2], False)}

    def stripe(request: httpx.Request) -> httpx.Response:
        ids, more = pages[request.url.params.get("starting_after")]
        return httpx.Response(200, json={"data": [_price(n) for n in ids], "has_more": more})

    prices = _read(stripe, "http://127.0.0.1:8420", "embedded", product="prod_1")
    assert [(p.id, p.unit_amount, p.lookup_key) for p in prices] == [
        ("price_0", 50, "k"),
        ("price_1", 51, None),
        ("price_2", 52, None),
    ]


@pytest.mark.parametrize(
    ("status", "body", "says"),
    [
        (401, {"error": {}}, "HTTP 401"),
        (200, {"data": "no"}, "no data list"),
        (200, {"data": [{"id": 3}]}, "field 'id' is not a string"),
    ],
)
def test_a_bad_answer_is_one_error_line(status: int, body: Any, says: str) -> None:
    with pytest.raises(StripeReadError, match=says) as caught:
        _read(lambda _: httpx.Response(status, json=body), "https://stripe.test", product="p")
    assert KEY.reveal() not in str(caught.value)
