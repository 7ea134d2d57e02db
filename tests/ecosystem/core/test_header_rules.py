"""§4 header rules through the real pipeline: 401 first, then 428/400, with no side effect."""

from __future__ import annotations

import pytest

from tests.ecosystem.core.items_app import ItemsApp, bearer, mutation_headers

pytestmark = pytest.mark.asyncio

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize(
    ("drop", "missing"),
    [
        (["X-Idempotency-Key"], ["X-Idempotency-Key"]),
        (["X-Trace-Id"], ["X-Trace-Id"]),
        (["X-Idempotency-Key", "X-Trace-Id"], ["X-Idempotency-Key", "X-Trace-Id"]),
    ],
)
async def test_a_missing_header_is_428_problem_no_store_and_nothing_happens(
    items_app: ItemsApp, drop: list[str], missing: list[str]
) -> None:
    headers = {k: v for k, v in mutation_headers().items() if k not in drop}
    response = await items_app.client.post("/v1/items", json={"name": "x"}, headers=headers)
    assert response.status_code == 428
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["missing_headers"] == missing
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert "Resubmit" in body["detail"]
    assert items_app.effects == []
    assert items_app.sink.named("page_build_requested") == []


async def test_authentication_comes_before_the_header_rules(items_app: ItemsApp) -> None:
    response = await items_app.client.post("/v1/items", json={"name": "x"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "bad",
    [
        {"X-Idempotency-Key": "a,b"},
        {"X-Idempotency-Key": "k" * 256},
        {"X-Trace-Id": TRACE.upper()},
        {"X-Trace-Id": "0" * 32},
        {"Idempotency-Key": "something-else"},
    ],
)
async def test_a_malformed_header_is_400_with_no_side_effect(
    items_app: ItemsApp, bad: dict[str, str]
) -> None:
    response = await items_app.client.post(
        "/v1/items", json={"name": "x"}, headers=mutation_headers(**bad)
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert items_app.effects == []


async def test_a_traceparent_supplies_the_trace_id(items_app: ItemsApp) -> None:
    headers = {k: v for k, v in mutation_headers().items() if k != "X-Trace-Id"}
    headers["traceparent"] = f"00-{TRACE}-00f067aa0ba902b7-01"
    response = await items_app.client.post("/v1/items", json={"name": "x"}, headers=headers)
    assert response.status_code == 201
    assert response.headers["x-trace-id"] == TRACE


async def test_an_invalid_traceparent_alone_leaves_no_usable_trace_id(items_app: ItemsApp) -> None:
    headers = {k: v for k, v in mutation_headers().items() if k != "X-Trace-Id"}
    headers["traceparent"] = f"ff-{TRACE}-00f067aa0ba902b7-01"
    response = await items_app.client.post("/v1/items", json={"name": "x"}, headers=headers)
    assert response.status_code == 428
    assert response.json()["missing_headers"] == ["X-Trace-Id"]


async def test_conflicting_trace_headers_are_400(items_app: ItemsApp) -> None:
    headers = mutation_headers(traceparent=f"00-{TRACE}-00f067aa0ba902b7-01")
    response = await items_app.client.post("/v1/items", json={"name": "x"}, headers=headers)
    assert response.status_code == 400
    assert "disagree" in response.json()["detail"]


async def test_get_needs_no_headers(items_app: ItemsApp) -> None:
    response = await items_app.client.get("/v1/items/none", headers=bearer())
    assert response.status_code == 404


async def test_a_cors_preflight_is_never_428_or_401(items_app: ItemsApp) -> None:
    response = await items_app.client.options(
        "/v1/items",
        headers={"Origin": "https://example.test", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code not in (401, 428)


async def test_a_protocol_endpoint_is_outside_the_rules(items_app: ItemsApp) -> None:
    response = await items_app.client.post("/hook", json={})
    assert response.status_code == 200
    assert items_app.effects == ["hook"]


async def test_an_unknown_route_is_a_404_problem_not_a_428(items_app: ItemsApp) -> None:
    response = await items_app.client.post("/v1/nowhere", json={}, headers=bearer())
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
