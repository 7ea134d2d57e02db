"""What every request gets: trace echo, http_request telemetry; and the probe routes."""

from __future__ import annotations

import pytest
from reftarget.core.headers import is_valid_trace_id

from tests.ecosystem.core.items_app import ItemsApp, bearer, mutation_headers

pytestmark = pytest.mark.asyncio


async def test_health_says_ok_with_app_id_and_version(items_app: ItemsApp) -> None:
    response = await items_app.client.get("/health")
    assert response.json() == {"status": "ok", "app_id": "A4", "version": "0.0.test"}


async def test_ready_lists_its_checks(items_app: ItemsApp) -> None:
    response = await items_app.client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok"}}


async def test_a_request_without_a_trace_id_gets_a_new_one(items_app: ItemsApp) -> None:
    first = (await items_app.client.get("/health")).headers["x-trace-id"]
    second = (await items_app.client.get("/health")).headers["x-trace-id"]
    assert is_valid_trace_id(first)
    assert first != second


async def test_the_request_trace_id_is_echoed_even_on_errors(items_app: ItemsApp) -> None:
    trace = "1234567890abcdef1234567890abcdef"
    response = await items_app.client.get("/v1/items/none", headers={"X-Trace-Id": trace})
    assert response.status_code == 401
    assert response.headers["x-trace-id"] == trace


async def test_every_request_becomes_one_http_request_event(items_app: ItemsApp) -> None:
    headers = mutation_headers(**{"X-Test-Run": "true", "X-Source": "qa"})
    await items_app.client.post("/v1/items", json={"name": "x"}, headers=headers)
    [event] = [e for e in items_app.sink.named("http_request") if e["route"] == "/v1/items"]
    assert event["status"] == 201
    assert event["trace_id"] == headers["X-Trace-Id"]
    assert event["idempotency_key"] == headers["X-Idempotency-Key"]
    assert event["tenant_id"] == "tenant_a"
    assert event["tags"] == {"test_run": True, "source": "qa", "env": "test"}
    assert event["latency_ms"] >= 0
    assert event["p95_ms"] is not None


async def test_business_events_carry_the_request_facts(items_app: ItemsApp) -> None:
    headers = mutation_headers(**{"X-Test-Run": "true", "X-Source": "qa"})
    await items_app.client.post("/v1/items", json={"name": "x"}, headers=headers)
    [event] = items_app.sink.named("page_build_requested")
    assert (event["route"], event["status"], event["trace_id"]) == (
        "/v1/items",
        201,
        headers["X-Trace-Id"],
    )
    assert event["tags"]["test_run"] is True


async def test_routes_are_reported_as_templates(items_app: ItemsApp) -> None:
    await items_app.client.get("/v1/items/item42", headers=bearer())
    await items_app.client.get("/no/such/path", headers=bearer())
    routes = {e["route"] for e in items_app.sink.named("http_request")}
    assert {"/v1/items/{item_id}", "/{unmatched}"} <= routes


async def test_untagged_traffic_is_not_synthetic(items_app: ItemsApp) -> None:
    await items_app.client.get("/health")
    [event] = items_app.sink.named("http_request")
    assert event["tags"] == {"test_run": False, "source": None, "env": "test"}


async def test_openapi_declares_the_contract_headers_on_mutations(items_app: ItemsApp) -> None:
    document = (await items_app.client.get("/openapi.json")).json()
    create = document["paths"]["/v1/items"]["post"]
    required = {p["name"] for p in create["parameters"] if p.get("required")}
    assert {"X-Idempotency-Key", "X-Trace-Id"} <= required
    assert {"400", "401", "409", "422", "428"} <= create["responses"].keys()
    assert create["requestBody"]["content"]["application/json"]["example"] == {"name": "x"}
    assert create["x-contract-rules"] is True
    assert document["paths"]["/hook"]["post"]["x-contract-rules"] is False


async def test_head_on_a_public_route_needs_no_token(items_app: ItemsApp) -> None:
    assert (await items_app.client.head("/health")).status_code == 200
