"""§4 header rules on the running apps: 428, 400, traceparent, no side effect."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from reftarget.core.settings import APP_IDS

from tests.ecosystem.apps.target import Target, new_trace_id


def contract_routes(target: Target) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(app, method, concrete path, example body) of every route under the §4 rules."""
    found = []
    for app_id in APP_IDS:
        document = target.get(app_id, "/openapi.json").json()
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                if operation["x-contract-rules"]:
                    example = operation["requestBody"]["content"]["application/json"]["example"]
                    concrete = path.replace("{", "x_").replace("}", "")
                    found.append((app_id, method.upper(), concrete, example))
    return found


@pytest.mark.parametrize(
    "missing", [("X-Idempotency-Key",), ("X-Trace-Id",), ("X-Idempotency-Key", "X-Trace-Id")]
)
def test_every_mutating_route_answers_428_without_the_headers(
    target: Target, missing: tuple[str, ...]
) -> None:
    routes = contract_routes(target)
    assert len(routes) >= 12
    for app_id, method, path, example in routes:
        headers = {k: v for k, v in target.mutation_headers().items() if k not in missing}
        response = target.http.request(
            method, target.url(app_id, path), json=example, headers=headers
        )
        assert response.status_code == 428, (app_id, method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["cache-control"] == "no-store"
        assert response.json()["missing_headers"] == list(missing)


def test_a_428_leaves_no_row_and_no_business_event(target: Target) -> None:
    reference = f"ref-{uuid.uuid4()}"
    headers = target.mutation_headers()
    del headers["X-Idempotency-Key"]
    response = target.post("A4", "/v1/work", {"kind": "quiz", "reference": reference}, headers)
    assert response.status_code == 428
    listed = target.get("A4", f"/v1/work?reference={reference}", target.auth()).json()
    assert listed["items"] == []
    events = target.events(headers["X-Trace-Id"])
    assert all(e["event"] == "http_request" for e in events)


@pytest.mark.parametrize(
    "bad", [{"X-Idempotency-Key": "has,comma"}, {"X-Trace-Id": "0" * 32}, {"X-Trace-Id": "XYZ"}]
)
def test_a_malformed_header_is_400(target: Target, bad: dict[str, str]) -> None:
    response = target.post("A4", "/v1/work", {"kind": "quiz"}, target.mutation_headers(**bad))
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


def test_a_valid_traceparent_is_accepted_and_echoed(target: Target) -> None:
    trace = new_trace_id()
    headers = target.mutation_headers()
    del headers["X-Trace-Id"]
    headers["traceparent"] = f"00-{trace}-00f067aa0ba902b7-01"
    response = target.post("A4", "/v1/work", {"kind": "quiz"}, headers)
    assert response.status_code == 201
    assert response.headers["x-trace-id"] == trace


def test_conflicting_trace_headers_are_400(target: Target) -> None:
    headers = target.mutation_headers(traceparent=f"00-{new_trace_id()}-00f067aa0ba902b7-01")
    assert target.post("A4", "/v1/work", {"kind": "quiz"}, headers).status_code == 400


def test_get_and_preflight_need_no_contract_headers(target: Target) -> None:
    assert target.get("A4", "/v1/work", target.auth()).status_code == 200
    preflight = target.http.options(
        target.url("A4", "/v1/work"),
        headers={"Origin": "https://example.test", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code not in (401, 428)
