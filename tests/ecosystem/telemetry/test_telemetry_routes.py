"""A8's HTTP API served for real (uvicorn, HTTPS on 127.0.0.1, trustme CA)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
import pytest_asyncio

from tests.ecosystem.telemetry.telemetry_testkit import A8_KEY, A8Server, Tls, event, trace

AUTH = {"Authorization": f"Bearer {A8_KEY}"}
pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def client(shared_a8: A8Server, tls: Tls) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=shared_a8.url, verify=tls.client, timeout=5) as opened:
        yield opened


def assert_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status


ROUTES = [
    ("POST", "/v1/events"),
    ("GET", "/v1/events"),
    ("GET", "/v1/slo?app_id=A1"),
    ("GET", "/v1/dashboards/slo-matrix"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-key", f"Basic {A8_KEY}"])
async def test_every_route_needs_the_telemetry_key(
    client: httpx.AsyncClient, method: str, path: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await client.request(method, path, headers=headers, json=[event()])
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "body",
    [b"", b"{not json", b'{"event": "x"}', b'"events"', b"[NaN]", b"\xff\xfe[", b"[" * 100_000],
    ids=["empty", "broken", "object", "string", "nan", "bad-utf8", "deep"],
)
async def test_a_malformed_body_is_400_never_500(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post(
        "/v1/events", content=body, headers=AUTH | {"Content-Type": "application/json"}
    )
    assert_problem(response, 400)


async def test_bad_items_are_rejected_one_by_one(client: httpx.AsyncClient) -> None:
    items = [1, "x", None, [], {}, {"event": ["x"]}, {"trace_id": "\ud800"}, event()]
    raw = json.dumps(items).encode()  # ASCII-escaped: the lone surrogate reaches A8
    response = await client.post("/v1/events", headers=AUTH, content=raw)
    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (1, 7)
    assert [r["outcome"] for r in body["results"]][-1] == "accepted"
    assert all(r["problems"] for r in body["results"][:-1])


async def test_a_lone_surrogate_is_rejected_not_a_crash(client: httpx.AsyncClient) -> None:
    raw = json.dumps([event() | {"tenant_id": "\ud800"}]).encode()
    response = await client.post("/v1/events", headers=AUTH, content=raw)
    assert response.json()["rejected"] == 1


async def test_ingest_then_query(client: httpx.AsyncClient) -> None:
    route = "/v1/work/{work_id}"  # a route no other test in this module uses
    request = event(
        "http_request",
        app_id="A4",
        route=route,
        trace_id=trace(3),
        sample_rate=0.1,
        timestamp=datetime.now(UTC),
    )
    posted = await client.post("/v1/events", headers=AUTH, json=[request, request])
    assert (posted.json()["accepted"], posted.json()["duplicates"]) == (1, 1)

    query = {"app_id": "A4", "route": route}
    slo = (await client.get("/v1/slo", headers=AUTH, params=query)).json()
    assert (slo["samples"], slo["requests"], slo["app_id"], slo["route"]) == (1, 10, "A4", route)
    assert slo["generated_at"].endswith("Z")

    found = (await client.get("/v1/events", headers=AUTH, params={"trace_id": trace(3)})).json()
    assert [e["event"] for e in found["events"]] == ["http_request"]
    assert found["events"][0]["received_at"].endswith("Z")

    board = (await client.get("/v1/dashboards/slo-matrix", headers=AUTH)).json()
    assert [t["requests"] for t in board["tiles"] if t["route"] == route] == [10]


@pytest.mark.parametrize(
    "query",
    [
        "app_id=A1&since=yesterday",
        "app_id=A1&since=2026-11-26T03:00:00 00:00",
        "app_id=A1&since=2026-11-26T04:00:00Z&until=2026-11-26T03:00:00Z",
        "app_id=A9",
        "route=/health",
    ],
    ids=["not-a-time", "unencoded-plus", "since-after-until", "bad-app", "no-app"],
)
async def test_malformed_query_parameters_are_400(client: httpx.AsyncClient, query: str) -> None:
    assert_problem(await client.get(f"/v1/slo?{query}", headers=AUTH), 400)


async def test_a_time_with_an_offset_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/v1/slo", headers=AUTH, params={"app_id": "A1", "since": "2026-11-26T04:00:00+01:00"}
    )
    assert response.json()["since"] == "2026-11-26T03:00:00.000Z"


async def test_events_query_validates_trace_id_and_limit(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/events?trace_id=XYZ", headers=AUTH), 400)
    assert_problem(await client.get("/v1/events?limit=0", headers=AUTH), 400)


async def test_unknown_dashboard_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/dashboards/finance", headers=AUTH), 404)


async def test_a_non_json_content_type_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/events", headers=AUTH | {"Content-Type": "text/plain"}, content=b"[]"
    )
    assert_problem(response, 415)


async def test_too_many_events_in_one_post_is_413(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post("/v1/events", headers=AUTH, json=[0] * 1001), 413)
