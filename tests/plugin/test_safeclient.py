"""The harness client: trace ids on every request, and no production write that is not synthetic.

A real HTTPS server on loopback counts what reaches it, so "refused before sending"
is checked where it matters: the server never saw the request.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import trustme
from secondconf.checks.safety.prod_guard import self_test_gate
from secondconf.contract.platform import APP_IDS, SYNTHETIC_HEADERS, SyntheticIdentity
from secondconf.contract.traceids import is_valid_trace_id, new_idempotency_key, new_trace_id
from secondconf.target.client import (
    NO_TRACE_ID,
    ProductionWriteRefused,
    RequestPolicy,
    harness_client,
    harness_sync_client,
    synthetic_headers,
)
from secondconf.target.map import AppEntry, SystemMap
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.loopback import serve

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


@dataclass
class SeenRequests:
    """What reached the server: (method, path, headers) per request."""

    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self) -> int:
        with self.lock:
            return len(self.requests)

    def last(self) -> tuple[str, str, dict[str, str]]:
        with self.lock:
            return self.requests[-1]


@dataclass
class Target:
    url: str
    ca_file: Path
    seen: SeenRequests


def recording_app(seen: SeenRequests) -> Starlette:
    async def anything(request: Request) -> Response:
        with seen.lock:
            seen.requests.append((request.method, request.url.path, dict(request.headers)))
        return JSONResponse({"ok": True})

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    return Starlette(routes=[Route("/{path:path}", anything, methods=methods)])


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    seen = SeenRequests()
    with serve(recording_app(seen), tls=trustme.CA()) as served:
        yield Target(served.url, served.ca_file, seen)


def prod_client(target: Target) -> httpx.AsyncClient:
    return harness_client(target.url, env="prod_observe", verify=target.ca_file, timeout_s=5)


def fully_synthetic() -> dict[str, str]:
    headers = synthetic_headers(SyntheticIdentity.STUDENT, idempotency_key=new_idempotency_key())
    return headers | {"X-Trace-Id": new_trace_id()}


def jwt_with_subject(subject: str) -> str:
    def part(data: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part({'sub': subject})}.c2lnbmF0dXJl"


# Each synthetic element, and how a request goes without it.
ELEMENTS = {
    "X-Test-Run": lambda h: h.pop("X-Test-Run"),
    "X-Source": lambda h: h.update({"X-Source": "prod"}),
    "X-Synthetic-Identity": lambda h: h.pop("X-Synthetic-Identity"),
    "X-Idempotency-Key": lambda h: h.pop("X-Idempotency-Key"),
    "X-Trace-Id": lambda h: h.pop("X-Trace-Id"),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("element", ELEMENTS)
@pytest.mark.parametrize("method", WRITE_METHODS)
async def test_a_write_missing_one_synthetic_element_is_refused_before_sending(
    target: Target, method: str, element: str
) -> None:
    headers = fully_synthetic()
    ELEMENTS[element](headers)
    before = target.seen.count()
    async with prod_client(target) as client:
        with pytest.raises(ProductionWriteRefused) as caught:
            # Without the opt-out the client would add the trace id that is being left out.
            await client.request(
                method, "/v1/things", headers=headers, extensions={NO_TRACE_ID: True}
            )
    assert [m.split(" ")[0].rstrip(":") for m in caught.value.missing] == [element]
    assert caught.value.method == method
    assert target.seen.count() == before


@pytest.mark.asyncio
async def test_a_real_identity_label_is_refused(target: Target) -> None:
    headers = fully_synthetic() | {"X-Synthetic-Identity": "alice"}
    async with prod_client(target) as client:
        with pytest.raises(ProductionWriteRefused, match="X-Synthetic-Identity"):
            await client.post("/v1/things", headers=headers)


@pytest.mark.asyncio
async def test_a_token_for_another_subject_is_refused_under_a_synthetic_label(
    target: Target,
) -> None:
    headers = fully_synthetic() | {"Authorization": f"Bearer {jwt_with_subject('alice')}"}
    before = target.seen.count()
    async with prod_client(target) as client:
        with pytest.raises(ProductionWriteRefused, match="subject is test_student_e2e_01"):
            await client.post("/v1/things", headers=headers)
    assert target.seen.count() == before


@pytest.mark.asyncio
async def test_a_malformed_trace_id_is_refused(target: Target) -> None:
    headers = fully_synthetic() | {"X-Trace-Id": "0" * 32}
    async with prod_client(target) as client:
        with pytest.raises(ProductionWriteRefused, match="X-Trace-Id"):
            await client.post("/v1/things", headers=headers)


@pytest.mark.asyncio
async def test_options_is_not_a_read_in_prod_observe(target: Target) -> None:
    async with prod_client(target) as client:
        with pytest.raises(ProductionWriteRefused):
            await client.options("/v1/things")


@pytest.mark.asyncio
async def test_the_refusal_is_one_line_without_the_query(target: Target) -> None:
    async with prod_client(target) as client:
        with pytest.raises(ProductionWriteRefused) as caught:
            await client.delete("/v1/things/7?token=abc")
    message = str(caught.value)
    assert message.startswith(f"prod_observe: refused DELETE {target.url}/v1/things/7 ")
    assert "token=abc" not in message
    assert "\n" not in message


@pytest.mark.asyncio
@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_reads_pass_in_prod_observe(target: Target, method: str) -> None:
    before = target.seen.count()
    async with prod_client(target) as client:
        response = await client.request(method, "/health")
    assert response.status_code == 200
    assert target.seen.count() == before + 1


@pytest.mark.asyncio
async def test_a_fully_synthetic_write_without_a_write_gate_is_refused_naming_it(
    target: Target,
) -> None:
    headers = fully_synthetic() | {
        "Authorization": f"Bearer {jwt_with_subject(SyntheticIdentity.STUDENT)}"
    }
    before = target.seen.count()
    async with prod_client(target) as client:
        with pytest.raises(ProductionWriteRefused, match="prod_write approval"):
            await client.post("/v1/things", headers=headers, json={"n": 1})
    assert target.seen.count() == before


@pytest.mark.asyncio
async def test_a_fully_synthetic_write_passes_in_prod_observe_under_an_approval(
    target: Target, tmp_path: Path
) -> None:
    headers = fully_synthetic() | {
        "Authorization": f"Bearer {jwt_with_subject(SyntheticIdentity.STUDENT)}"
    }
    gate = self_test_gate(tmp_path / "hitl.log")
    async with harness_client(
        target.url, env="prod_observe", verify=target.ca_file, write_gate=gate
    ) as client:
        response = await client.post("/v1/things", headers=headers, json={"n": 1})
    assert response.status_code == 200
    method, path, seen = target.seen.last()
    assert (method, path) == ("POST", "/v1/things")
    assert seen["x-synthetic-identity"] == "test_student_e2e_01"
    assert seen["x-idempotency-key"] == headers["X-Idempotency-Key"]


@pytest.mark.asyncio
async def test_a_client_made_synthetic_only_needs_the_key_per_write(
    target: Target, tmp_path: Path
) -> None:
    async with harness_client(
        target.url,
        env="prod_observe",
        verify=target.ca_file,
        synthetic_identity=SyntheticIdentity.PROVIDER,
        write_gate=self_test_gate(tmp_path / "hitl.log"),
    ) as client:
        response = await client.put(
            "/v1/listing", headers={"X-Idempotency-Key": new_idempotency_key()}
        )
    assert response.status_code == 200
    seen = target.seen.last()[2]
    assert (seen["x-test-run"], seen["x-source"]) == ("true", "qa")
    assert seen["x-synthetic-identity"] == "test_provider_e2e_01"


@pytest.mark.asyncio
@pytest.mark.parametrize("method", WRITE_METHODS)
async def test_nothing_is_refused_in_staging(target: Target, method: str) -> None:
    before = target.seen.count()
    async with harness_client(target.url, env="staging", verify=target.ca_file) as client:
        response = await client.request(method, "/v1/things")
    assert response.status_code == 200
    assert target.seen.count() == before + 1


@pytest.mark.asyncio
async def test_every_request_gets_its_own_trace_id(target: Target) -> None:
    async with harness_client(target.url, env="staging", verify=target.ca_file) as client:
        await client.get("/a")
        first = target.seen.last()[2]["x-trace-id"]
        await client.get("/b")
        second = target.seen.last()[2]["x-trace-id"]
    assert is_valid_trace_id(first)
    assert is_valid_trace_id(second)
    assert first != second


@pytest.mark.asyncio
async def test_a_given_trace_id_is_kept(target: Target) -> None:
    trace_id = new_trace_id()
    async with harness_client(target.url, env="staging", verify=target.ca_file) as client:
        await client.get("/a", headers={"X-Trace-Id": trace_id})
    assert target.seen.last()[2]["x-trace-id"] == trace_id


@pytest.mark.asyncio
async def test_a_traceparent_is_not_contradicted_by_a_new_trace_id(target: Target) -> None:
    traceparent = f"00-{new_trace_id()}-00f067aa0ba902b7-01"
    async with harness_client(target.url, env="staging", verify=target.ca_file) as client:
        await client.post("/v1/things", headers={"traceparent": traceparent})
    assert "x-trace-id" not in target.seen.last()[2]


def test_the_sync_client_refuses_the_same_writes(target: Target) -> None:
    before = target.seen.count()
    with harness_sync_client(target.url, env="prod_observe", verify=target.ca_file) as client:
        assert client.get("/health").status_code == 200
        with pytest.raises(ProductionWriteRefused):
            client.post("/v1/things", json={})
    assert target.seen.count() == before + 1


def system_map(target: Target, env: str) -> SystemMap:
    apps = {
        app_id: AppEntry(app_id, target.url, "role", "/health", "/ready", "v", ())
        for app_id in APP_IDS
    }
    return SystemMap(
        env, "2026-11-26T03:00:00Z", apps, target.url, target.url, "qa", None, target.ca_file
    )


@pytest.mark.asyncio
async def test_a_client_for_a_map_trusts_the_maps_ca_bundle(target: Target) -> None:
    async with harness_client(system_map(target, "staging")) as client:
        response = await client.get(f"{target.url}/health")
    assert response.status_code == 200


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("map_env", "env"), [("prod_observe", "staging"), ("staging", "prod_observe")]
)
async def test_prod_observe_in_the_map_or_the_option_installs_the_refusal(
    target: Target, map_env: str, env: str
) -> None:
    async with harness_client(system_map(target, map_env), env=env) as client:
        with pytest.raises(ProductionWriteRefused):
            await client.post(f"{target.url}/v1/things")


def test_the_synthetic_tags_are_the_contracts() -> None:
    assert dict(SYNTHETIC_HEADERS) == {"X-Test-Run": "true", "X-Source": "qa"}


def test_an_unknown_environment_is_refused() -> None:
    with pytest.raises(ValueError, match="valid values: embedded, staging, prod_observe"):
        RequestPolicy("production")


def test_only_known_identities_can_be_made_synthetic() -> None:
    with pytest.raises(ValueError, match="not a synthetic identity"):
        synthetic_headers("alice")


@pytest.mark.asyncio
async def test_a_refused_write_opens_no_connection() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        async with harness_client(url, env="prod_observe") as client:
            with pytest.raises(ProductionWriteRefused):
                await client.post("/v1/things", json={"n": 1})
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing ever connected
