"""``/_admin/faults``: the switches, their validation, and what each one does."""

from __future__ import annotations

import time

import pytest
from reftarget.core.faults import DISABLEABLE_RULES, fault_draw

from tests.ecosystem.core.items_app import ADMIN_TOKEN, ItemsApp, bearer, mutation_headers

pytestmark = pytest.mark.asyncio

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def set_faults(items_app: ItemsApp, **changes: object) -> dict[str, object]:
    response = await items_app.client.post("/_admin/faults", json=changes, headers=ADMIN)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_the_admin_plane_needs_the_admin_token(items_app: ItemsApp) -> None:
    for headers in ({}, bearer(), {"Authorization": "Bearer wrong"}):
        response = await items_app.client.get("/_admin/faults", headers=headers)
        assert response.status_code == 401


@pytest.mark.parametrize(
    "changes",
    [
        {"no_such_switch": 1},
        {"error_503_fraction": 1.5},
        {"added_latency_ms": -1},
        {"ready_fails": "yes"},
        {"disabled_rules": ["no_such_rule"]},
        {"clock_offset_s": "soon"},
    ],
)
async def test_bad_switches_are_refused_naming_the_field(
    items_app: ItemsApp, changes: dict[str, object]
) -> None:
    response = await items_app.client.post("/_admin/faults", json=changes, headers=ADMIN)
    assert response.status_code == 400
    assert next(iter(changes)) in response.json()["detail"]


async def test_get_shows_post_merges_delete_clears(items_app: ItemsApp) -> None:
    await set_faults(items_app, added_latency_ms=5)
    state = await set_faults(items_app, disabled_rules=["dedupe"])
    assert state["added_latency_ms"] == 5
    assert state["disabled_rules"] == ["dedupe"]
    assert state["rules"] == list(DISABLEABLE_RULES)
    cleared = (await items_app.client.delete("/_admin/faults", headers=ADMIN)).json()
    assert cleared["added_latency_ms"] == 0
    assert cleared["disabled_rules"] == []


async def test_503s_hit_exactly_the_trace_ids_the_draw_selects(items_app: ItemsApp) -> None:
    await set_faults(items_app, error_503_fraction=0.5)
    traces = [f"{n:032x}" for n in range(1, 41)]
    statuses = [
        (await items_app.client.get("/health", headers={"X-Trace-Id": t})).status_code
        for t in traces
    ]
    expected = [503 if fault_draw(t) < 0.5 else 200 for t in traces]
    assert statuses == expected
    assert 5 < statuses.count(503) < 35


async def test_injected_503s_are_problems_and_reach_telemetry(items_app: ItemsApp) -> None:
    await set_faults(items_app, error_503_fraction=1.0)
    response = await items_app.client.get("/health")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert items_app.sink.named("http_request")[-1]["status"] == 503


async def test_added_latency_delays_every_request(items_app: ItemsApp) -> None:
    await set_faults(items_app, added_latency_ms=150)
    started = time.perf_counter()
    await items_app.client.get("/health")
    assert time.perf_counter() - started >= 0.15


async def test_a_cold_start_fails_ready_and_delays_work_but_not_health(
    items_app: ItemsApp,
) -> None:
    await set_faults(items_app, cold_start_s=0.3)
    assert (await items_app.client.get("/health")).status_code == 200
    ready = await items_app.client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["status"] == "not_ready"
    assert "warmup" in ready.json()["checks"]
    started = time.perf_counter()
    await items_app.client.get("/v1/items/x", headers=bearer())
    assert time.perf_counter() - started >= 0.2
    assert (await items_app.client.get("/ready")).status_code == 200


async def test_ready_fails_makes_ready_503(items_app: ItemsApp) -> None:
    await set_faults(items_app, ready_fails=True)
    response = await items_app.client.get("/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["fault"].startswith("not ready")


async def test_the_telemetry_drop_fraction_reaches_the_emitter(items_app: ItemsApp) -> None:
    await set_faults(items_app, telemetry_drop_fraction=0.25)
    assert items_app.sink.drop_fraction == 0.25


async def test_the_clock_offset_moves_the_target_clock(items_app: ItemsApp) -> None:
    before = items_app.runtime.clock.time()
    await set_faults(items_app, clock_offset_s=3600)
    assert items_app.runtime.clock.time() - before >= 3600


async def test_without_require_428_a_bare_mutation_goes_through(items_app: ItemsApp) -> None:
    await set_faults(items_app, disabled_rules=["require_428"])
    response = await items_app.client.post("/v1/items", json={"name": "x"}, headers=bearer())
    assert response.status_code == 201


async def test_without_dedupe_a_repeat_runs_twice(items_app: ItemsApp) -> None:
    await set_faults(items_app, disabled_rules=["dedupe"])
    headers = mutation_headers()
    for _ in range(2):
        await items_app.client.post("/v1/items", json={"name": "x"}, headers=headers)
    assert len(items_app.effects) == 2


async def test_dedupe_keyed_on_the_trace_id_charges_a_retry_twice(items_app: ItemsApp) -> None:
    await set_faults(items_app, disabled_rules=["dedupe_without_trace"])
    headers = mutation_headers()
    await items_app.client.post("/v1/items", json={"name": "x"}, headers=headers)
    await items_app.client.post(
        "/v1/items", json={"name": "x"}, headers={**headers, "X-Trace-Id": "e" * 32}
    )
    assert len(items_app.effects) == 2


async def test_without_tenant_scope_another_tenant_sees_the_row(items_app: ItemsApp) -> None:
    created = await items_app.client.post(
        "/v1/items", json={"name": "x"}, headers=mutation_headers("tenant_a")
    )
    await set_faults(items_app, disabled_rules=["tenant_scope"])
    leaked = await items_app.client.get(created.headers["location"], headers=bearer("tenant_b"))
    assert leaked.status_code == 200


async def test_without_cookie_attributes_cookies_lose_secure_and_samesite(
    items_app: ItemsApp,
) -> None:
    healthy = (await items_app.client.get("/pub")).headers["set-cookie"]
    assert "Secure" in healthy
    assert "SameSite=none" in healthy
    await set_faults(items_app, disabled_rules=["cookie_attributes"])
    weakened = (await items_app.client.get("/pub")).headers["set-cookie"]
    assert "secure" not in weakened.lower()
    assert "samesite=none" not in weakened.lower()
    assert "HttpOnly" in weakened
