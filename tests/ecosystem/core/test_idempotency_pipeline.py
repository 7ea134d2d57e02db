"""Idempotent mutations through the real pipeline (contract §4)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.ecosystem.core.items_app import ItemsApp, bearer, build_items_app, mutation_headers

pytestmark = pytest.mark.asyncio


async def test_a_repeat_is_replayed_with_the_same_status_body_and_location(
    items_app: ItemsApp,
) -> None:
    headers = mutation_headers()
    first = await items_app.client.post("/v1/items", json={"name": "x"}, headers=headers)
    second = await items_app.client.post("/v1/items", json={"name": "x"}, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.content == first.content
    assert second.headers["location"] == first.headers["location"]
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert "set-cookie" not in second.headers, "cookies are never replayed"
    assert len(items_app.effects) == 1


async def test_a_retry_with_a_new_trace_id_is_a_replay_not_a_second_effect(
    items_app: ItemsApp,
) -> None:
    headers = mutation_headers()
    await items_app.client.post("/v1/items", json={"name": "x"}, headers=headers)
    retry = {**headers, "X-Trace-Id": "f" * 32}
    second = await items_app.client.post("/v1/items", json={"name": "x"}, headers=retry)
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["x-trace-id"] == "f" * 32, "the replay echoes the retry's trace id"
    assert len(items_app.effects) == 1


async def test_a_reordered_body_is_the_same_request(items_app: ItemsApp) -> None:
    headers = mutation_headers()
    await items_app.client.post("/v1/items", content=b'{"name": "x", "note": 1}', headers=headers)
    second = await items_app.client.post(
        "/v1/items", content=b'{"note":1,"name":"x"}', headers=headers
    )
    assert second.headers["idempotent-replayed"] == "true"
    assert len(items_app.effects) == 1


async def test_the_same_key_for_a_different_body_is_422_and_the_original_still_replays(
    items_app: ItemsApp,
) -> None:
    headers = mutation_headers()
    await items_app.client.post("/v1/items", json={"name": "x"}, headers=headers)
    other = await items_app.client.post("/v1/items", json={"name": "y"}, headers=headers)
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    again = await items_app.client.post("/v1/items", json={"name": "x"}, headers=headers)
    assert again.headers["idempotent-replayed"] == "true"
    assert len(items_app.effects) == 1


async def test_the_same_key_under_two_tenants_is_two_requests(items_app: ItemsApp) -> None:
    key = {"X-Idempotency-Key": "shared-key"}
    a = await items_app.client.post(
        "/v1/items", json={"name": "x"}, headers=mutation_headers("tenant_a", **key)
    )
    b = await items_app.client.post(
        "/v1/items", json={"name": "x"}, headers=mutation_headers("tenant_b", **key)
    )
    assert a.json()["id"] != b.json()["id"]
    assert "idempotent-replayed" not in b.headers
    assert len(items_app.effects) == 2


async def test_a_request_in_flight_makes_its_twin_wait_with_409(items_app: ItemsApp) -> None:
    gate = asyncio.Event()
    items_app.control["gate"] = gate
    headers = mutation_headers()
    first = asyncio.create_task(
        items_app.client.post("/v1/items", json={"name": "x"}, headers=headers)
    )
    await asyncio.sleep(0.05)
    twin = await items_app.client.post("/v1/items", json={"name": "x"}, headers=headers)
    gate.set()
    assert (await first).status_code == 201
    assert twin.status_code == 409
    assert twin.headers["retry-after"] == "1"
    assert len(items_app.effects) == 1


async def test_n_identical_requests_at_once_have_exactly_one_effect(items_app: ItemsApp) -> None:
    gate = asyncio.Event()
    items_app.control["gate"] = gate
    headers = mutation_headers()
    requests = [
        asyncio.create_task(items_app.client.post("/v1/items", json={"name": "x"}, headers=headers))
        for _ in range(8)
    ]
    await asyncio.sleep(0.05)
    gate.set()
    statuses = sorted(r.status_code for r in await asyncio.gather(*requests))
    assert statuses == [201] + [409] * 7
    assert len(items_app.effects) == 1


async def test_the_ttl_is_crossed_by_the_clock_offset_fault(items_app: ItemsApp) -> None:
    headers = mutation_headers()
    await items_app.client.post("/v1/items", json={"name": "x"}, headers=headers)
    items_app.runtime.faults.update({"clock_offset_s": 901})
    again = await items_app.client.post("/v1/items", json={"name": "x"}, headers=headers)
    assert "idempotent-replayed" not in again.headers
    assert len(items_app.effects) == 2


async def test_a_5xx_is_not_stored_so_the_retry_runs_again(items_app: ItemsApp) -> None:
    headers = mutation_headers()
    for _ in range(2):
        response = await items_app.client.post("/v1/unavailable", json={}, headers=headers)
        assert response.status_code == 503
        assert "idempotent-replayed" not in response.headers
    assert items_app.effects == ["unavailable", "unavailable"]


async def test_a_4xx_from_the_handler_is_stored_and_replayed(items_app: ItemsApp) -> None:
    headers = mutation_headers()
    first = await items_app.client.post("/v1/items", json={}, headers=headers)
    second = await items_app.client.post("/v1/items", json={}, headers=headers)
    assert (first.status_code, second.status_code) == (400, 400)
    assert second.headers["idempotent-replayed"] == "true"


async def test_a_replay_is_not_shown_without_a_valid_token(items_app: ItemsApp) -> None:
    headers = mutation_headers()
    await items_app.client.post("/v1/items", json={"name": "x"}, headers=headers)
    anonymous = {k: v for k, v in headers.items() if k != "Authorization"}
    response = await items_app.client.post("/v1/items", json={"name": "x"}, headers=anonymous)
    assert response.status_code == 401
    assert "idempotent-replayed" not in response.headers


async def test_a_crash_releases_the_key_and_answers_a_500_problem(items_app: ItemsApp) -> None:
    headers = mutation_headers()
    response = await items_app.client.post("/v1/crash", json={}, headers=headers)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-trace-id"] == headers["X-Trace-Id"]
    again = await items_app.client.post("/v1/crash", json={}, headers=headers)
    assert again.status_code == 500, "not a 409: the crashed claim was released"


async def test_a_read_is_tenant_scoped(items_app: ItemsApp) -> None:
    created = await items_app.client.post(
        "/v1/items", json={"name": "x"}, headers=mutation_headers("tenant_a")
    )
    item = created.headers["location"]
    assert (await items_app.client.get(item, headers=bearer("tenant_a"))).status_code == 200
    other = await items_app.client.get(item, headers=bearer("tenant_b"))
    assert other.status_code == 404
    assert "x" not in other.text.split('"detail"')[0]


async def test_a_client_gone_before_its_body_was_read_claims_nothing(tmp_path: Path) -> None:
    """uvicorn answers ``http.disconnect`` once the client is gone, even for a body it had
    buffered: the key must stay free, so the caller's retry runs (not a 422 for an empty
    body's fingerprint)."""
    app, runtime, _, effects, _ = build_items_app(tmp_path)
    headers = mutation_headers()
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": "/v1/items",
        "raw_path": b"/v1/items",
        "query_string": b"",
        "root_path": "",
        "headers": [*raw_headers, (b"content-type", b"application/json"), (b"host", b"t")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 443),
    }
    sent: list[dict[str, object]] = []

    async def gone() -> dict[str, object]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await app(scope, gone, send)
    assert effects == []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        retry = await client.post("/v1/items", json={"name": "x"}, headers=headers)
    assert retry.status_code == 201, retry.text
    assert "idempotent-replayed" not in retry.headers
    assert len(effects) == 1
    runtime.db.close()
