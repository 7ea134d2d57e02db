"""Unit tests of HDR-06's fuzzing: the prod_observe refusal, the header minting, the 428 rule.

The target is an ``httpx.MockTransport`` app serving a one-operation OpenAPI document, so
these tests need no ecosystem.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from secondconf.checks.hardening.fuzzing import (
    MISSING_HEADER_CHECK,
    FuzzingRefused,
    FuzzPlan,
    HeaderMinter,
    fuzz_app,
    fuzz_config,
    fuzz_verdict,
)
from secondconf.contract.platform import SyntheticIdentity
from secondconf.contract.traceids import is_valid_idempotency_key, is_valid_trace_id
from secondconf.engine.evidence import RequestRecord
from secondconf.engine.verdict import Outcome

BASE = "https://fake.test"
HEADERS = ("X-Idempotency-Key", "X-Trace-Id")
KEY_PATTERN = "^[\\x21-\\x2b\\x2d-\\x7e]{1,255}$"
DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "fake", "version": "1"},
    "paths": {
        "/v1/things": {
            "post": {
                "x-contract-rules": True,
                "parameters": [
                    {
                        "name": "X-Idempotency-Key",
                        "in": "header",
                        "required": True,
                        "schema": {
                            "type": "string",
                            "pattern": "^[\\x21-\\x2b\\x2d-\\x7e]{1,255}$",
                        },
                    },
                    {
                        "name": "X-Trace-Id",
                        "in": "header",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^(?!0{32})[0-9a-f]{32}$"},
                    },
                ],
                "responses": {
                    "201": {"description": "ok"},
                    "400": {"description": "bad"},
                    "428": {"description": "missing headers"},
                },
            }
        }
    },
}
PLAN = FuzzPlan(max_examples=2, body_coverage_per_operation=2)


def _client(seen: list[httpx.Request], *, enforce_428: bool) -> httpx.Client:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        response = answer(request)
        response.elapsed = timedelta(0)  # a real transport sets it; schemathesis reads it
        return response

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/openapi.json":
            return httpx.Response(200, json=DOCUMENT)
        if request.method != "POST":
            return httpx.Response(405, headers={"Allow": "POST"})
        if enforce_428 and any(h not in request.headers for h in HEADERS):
            return httpx.Response(428)
        key, trace = (request.headers.get(h) for h in HEADERS)
        if (key is not None and not is_valid_idempotency_key(key)) or (
            trace is not None and not is_valid_trace_id(trace)
        ):
            return httpx.Response(400)
        return httpx.Response(201)

    return httpx.Client(transport=httpx.MockTransport(handle))


def _fuzz(client: httpx.Client, env: str = "embedded") -> Any:
    return fuzz_app(
        client,
        "A2",
        BASE,
        env=env,
        minter=HeaderMinter(SyntheticIdentity.STUDENT),
        auth={},
        plan=PLAN,
    )


def test_prod_observe_is_refused_before_anything_is_sent() -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(FuzzingRefused, match="never runs against prod_observe"):
        _fuzz(_client(seen, enforce_428=True), env="prod_observe")
    assert seen == []


def test_the_minter_gives_a_fresh_valid_key_and_trace_per_call() -> None:
    minter = HeaderMinter(SyntheticIdentity.STUDENT)
    minted = []
    for _ in range(3):
        headers: dict[str, Any] = {"X-Idempotency-Key": "0", "X-Trace-Id": "1" * 32}
        minter.mint(headers)
        minted.append(headers)
    keys = [h["X-Idempotency-Key"] for h in minted]
    traces = [h["X-Trace-Id"] for h in minted]
    assert len(set(keys)) == 3
    assert len(set(traces)) == 3
    assert all(is_valid_idempotency_key(k) for k in keys)
    assert all(is_valid_trace_id(t) for t in traces)
    assert minted[0]["X-Test-Run"] == "true"
    assert minted[0]["X-Source"] == "qa"
    assert minted[0]["X-Synthetic-Identity"] == SyntheticIdentity.STUDENT.value


def test_the_minter_keeps_absent_and_malformed_headers_and_drops_traceparent() -> None:
    headers: dict[str, Any] = {"X-Idempotency-Key": "a,b", "traceparent": "00-x", "X-Source": "z"}
    HeaderMinter(SyntheticIdentity.PROVIDER).mint(headers)
    assert headers["X-Idempotency-Key"] == "a,b"  # a negative case stays negative
    assert "X-Trace-Id" not in headers  # a missing-header case stays missing
    assert "traceparent" not in headers
    assert headers["X-Source"] == "qa"


def test_the_config_expects_428_for_a_missing_required_header() -> None:
    checks = (
        fuzz_config(BASE, PLAN).projects.get_default().checks_config_for(operation=None, phase=None)
    )
    assert checks.missing_required_header.expected_statuses == ["428"]


def _check_names(verdict_details: dict[str, Any]) -> list[str]:
    return [v.split(":", 1)[0] for v in verdict_details["violations"]]


@pytest.mark.parametrize(("enforce_428", "expected"), [(True, Outcome.PASS), (False, Outcome.FAIL)])
def test_an_app_without_the_428_rule_fails_naming_the_check(
    enforce_428: bool, expected: Outcome
) -> None:
    seen: list[httpx.Request] = []
    verdict = fuzz_verdict(_fuzz(_client(seen, enforce_428=enforce_428)))
    assert verdict.outcome is expected, verdict.details["violations"]
    assert verdict.n == verdict.details["generated_calls"] > 0
    posts = [r for r in seen if r.method == "POST"]
    keys = [r.headers["X-Idempotency-Key"] for r in posts if "X-Idempotency-Key" in r.headers]
    valid = [k for k in keys if is_valid_idempotency_key(k)]
    assert len(valid) == len(set(valid)) > 0  # a fresh key on every call that carries one
    assert all("traceparent" not in r.headers for r in posts)
    if expected is Outcome.FAIL:
        assert MISSING_HEADER_CHECK in _check_names(verdict.details)
    statuses = {row["status"] for row in verdict.details["requests"]}
    assert 201 in statuses
    assert all("Bearer" not in str(row) for row in verdict.details["requests"])
    records = [RequestRecord.from_dict(row) for row in verdict.details["requests"]]
    assert {r.app for r in records} == {verdict.subject}
    assert all(r.sent.endswith("fresh key and trace id each") for r in records)
