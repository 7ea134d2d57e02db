"""The harness's A7 client refuses to train a shared bandit: a page that did not get a
bandit of its own (a target without the harness extension) stops the check before any
impression is sent."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from secondconf.contract.platform import SyntheticIdentity
from secondconf.target.growth import GrowthClient, GrowthError
from secondconf.target.identity import AccessToken

from tests.plugin.system_maps import system_map_at

STUDENT = AccessToken("tok", str(SyntheticIdentity.STUDENT), "t1", {})


def build(page: dict[str, str]) -> tuple[str | None, list[str]]:
    """Build a page against a fake A7 answering ``page``: the error (if any), the paths sent."""
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        assert json.loads(request.content)["bandit"] == "own"
        return httpx.Response(201, json=page)

    async def run() -> str | None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            growth = GrowthClient(client, system_map_at("https://a7.test"), STUDENT)
            try:
                await growth.published_page("a" * 32)
            except GrowthError as error:
                return str(error)
            return None

    return asyncio.run(run()), sent


def test_a_page_on_the_shared_bandit_stops_the_check() -> None:
    error, sent = build({"id": "pg_1", "bandit": "shared"})
    assert error is not None
    assert "bandit of its own" in error
    assert sent == ["/v1/pages"]


@pytest.mark.parametrize("page", [{"id": "pg_1"}, {"bandit": "own"}])
def test_an_answer_without_page_id_or_bandit_is_refused(page: dict[str, str]) -> None:
    error, _ = build(page)
    assert error is not None
