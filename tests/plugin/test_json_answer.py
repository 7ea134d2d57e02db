"""The API clients' one JSON reader: the four ways an answer is not a JSON object, each one
line in the client's own error class, and what each client sends; and json_body, the
checks' lenient reader."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from secondconf.core.secret import Secret
from secondconf.target.a8 import A8Client, TelemetryError
from secondconf.target.json_answer import get_json_object, json_body
from secondconf.target.stripe_api import StripeReader, StripeReadError

from tests.plugin.system_maps import system_map_at

Handler = Callable[[httpx.Request], httpx.Response]


class ReadError(Exception):
    pass


def _get(handler: Handler) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await get_json_object(
                client, "https://a.test/x", {"q": "1"}, {"X-Key": "k"}, "the x", ReadError
            )

    return asyncio.run(read())


def _refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


@pytest.mark.parametrize(
    ("handler", "line"),
    [
        (_refused, "the x: unreachable (ConnectError)"),
        (lambda _: httpx.Response(503, json={}), "the x: HTTP 503"),
        (lambda _: httpx.Response(200, text="<html>"), "the x: the answer is not JSON"),
        (lambda _: httpx.Response(200, json=[1]), "the x: the answer is not a JSON object"),
    ],
)
def test_each_failure_is_one_line_of_the_callers_error(handler: Handler, line: str) -> None:
    with pytest.raises(ReadError) as caught:
        _get(handler)
    assert str(caught.value) == line


def test_a_json_object_is_the_answer_with_the_query_and_headers_sent() -> None:
    seen: list[httpx.Request] = []

    def service(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    assert _get(service) == {"ok": True}
    assert str(seen[0].url) == "https://a.test/x?q=1"
    assert seen[0].headers["x-key"] == "k"


@pytest.mark.parametrize(
    ("read", "error", "where"),
    [
        (
            lambda client, system_map: A8Client(
                client, system_map, Secret("A8_TELEMETRY_KEY", "a8-key-not-real")
            ).dashboard("funnel-status"),
            TelemetryError,
            "A8 dashboard funnel-status: the answer is not JSON",
        ),
        (
            lambda client, system_map: StripeReader(
                client, system_map, Secret("STRIPE_SECRET_KEY", "sk_test_not_real")
            ).payment_intent("pi_1"),
            StripeReadError,
            "Stripe PaymentIntent pi_1: the answer is not JSON",
        ),
    ],
)
def test_a8_and_stripe_read_through_it_with_their_own_error(
    read: Callable[[httpx.AsyncClient, Any], Any], error: type[Exception], where: str
) -> None:
    system_map = system_map_at("https://x.test")

    async def run() -> None:
        transport = httpx.MockTransport(lambda _: httpx.Response(200, text="<html>"))
        async with httpx.AsyncClient(transport=transport) as client:
            await read(client, system_map)

    with pytest.raises(error) as caught:
        asyncio.run(run())
    assert str(caught.value) == where


@pytest.mark.parametrize(
    ("response", "body"),
    [
        (None, None),
        (httpx.Response(500, text="<html>"), None),
        (httpx.Response(422, json={"type": "urn:x"}), {"type": "urn:x"}),
        (httpx.Response(200, json=[1]), [1]),
    ],
)
def test_a_checks_json_body_is_whatever_json_came_back_or_none(
    response: httpx.Response | None, body: Any
) -> None:
    assert json_body(response) == body
