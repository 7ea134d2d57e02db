"""Each hardening case against a fake app that keeps §4, then breaks one rule at a time.

The cases run their real code (route driver, answer checks) over ``httpx.MockTransport``;
side effects (counted in A8) are the fault tests' business (tests/harness). These are the
rules the reference target has no switch for.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from secondconf.checks.hardening.cases import CASES
from secondconf.checks.hardening.driver import RouteDriver, RunContext
from secondconf.checks.hardening.model import CaseResult, RouteState
from secondconf.contract.platform import SyntheticIdentity
from secondconf.target.identity import AccessToken
from secondconf.target.map import AppEntry, SystemMap
from secondconf.target.routes import discover_routes

from tests.plugin.fake_contract_target import DOCUMENT, FakeContractApp

BASE = "https://a2.test"
CASE_OF = dict(CASES)


def system_map() -> SystemMap:
    entry = AppEntry("A2", BASE, "payments", "/health", "/ready", "1", ())
    return SystemMap(
        env="staging",
        generated_at="2026-11-26T00:00:00Z",
        apps={"A2": entry},
        telemetry_base_url="https://a8.test",
        identity_base_url="https://a1.test",
        qa_client_id="qa-harness",
        stripe_api_base=None,
        ca_bundle=None,
    )


def run_case(rule: str, faults: set[str], label: str = "A2 POST /v1/things") -> CaseResult:
    """Run one rule's case on one route of a fake app with ``faults``."""
    app = FakeContractApp(faults)
    routes = discover_routes("A2", DOCUMENT)

    async def go() -> CaseResult:
        async with httpx.AsyncClient(transport=app.transport()) as client:
            run = RunContext(
                client=client,
                system_map=system_map(),
                tokens={
                    str(SyntheticIdentity.STUDENT): AccessToken("tok-t1", "student", "t1", {}),
                    str(SyntheticIdentity.PROVIDER): AccessToken("tok-t2", "provider", "t2", {}),
                },
                a8=Any,  # type: ignore[arg-type]  # effects are not counted here
            )
            run.routes.update({("A2", r.template): r for r in routes.covered})
            run.readers["A2"] = routes.readers
            states = [RouteState(r) for r in routes.covered]
            state = next(s for s in states if s.route.label == label)
            case = CaseResult(rule, "A2", label)
            await CASE_OF[rule](RouteDriver(run, state.route, case), state, states)
            return case

    return asyncio.run(go())


@pytest.mark.parametrize("rule", list(CASE_OF))
@pytest.mark.parametrize("label", ["A2 POST /v1/things", "A2 POST /v1/things/{thing_id}/close"])
def test_every_case_holds_on_an_app_that_keeps_the_contract(rule: str, label: str) -> None:
    case = run_case(rule, set(), label)
    assert case.violations == []
    assert case.untested is None
    assert case.requests or case.not_applicable


@pytest.mark.parametrize(
    ("rule", "fault", "label", "violation"),
    [
        (
            "HDR-05",
            "headers_on_safe_methods",
            "A2 POST /v1/things",
            "GET without the headers: answered 428",
        ),
        ("HDR-04", "malformed_accepted", "A2 POST /v1/things", "a key with a comma: answered 201"),
        (
            "TRC-26",
            "traceparent_ignored",
            "A2 POST /v1/things",
            "traceparent only: answered 428, expected a 2xx",
        ),
        ("TRC-28", "conflict_accepted", "A2 POST /v1/things", "answered 201, not 400"),
        ("IDEM-11", "scope_without_route", "A2 POST /v1/things", "answered 422, expected a 2xx"),
        (
            "TEN-24",
            "replay_before_auth",
            "A2 POST /v1/things",
            "the same key without a token: answered 201, not 401",
        ),
        (
            "TEN-25",
            "leaky_tenant_read",
            "A2 POST /v1/things",
            "tenant B reads it: answered 200, not 404",
        ),
        (
            "TEN-25",
            "cross_tenant_write",
            "A2 POST /v1/things/{thing_id}/close",
            "tenant B on tenant A's resource: answered 200, not 404",
        ),
    ],
)
def test_each_case_fails_on_the_rule_it_checks(
    rule: str, fault: str, label: str, violation: str
) -> None:
    assert run_case(rule, set(), label).violations == []
    case = run_case(rule, {fault}, label)
    assert any(violation in v for v in case.violations), case.violations
    assert any(r.result != "ok" for r in case.records)


def test_every_request_is_recorded_with_its_route_key_trace_and_timing() -> None:
    case = run_case("TRC-26", set())
    (record,) = case.records

    assert (record.route, record.method, record.path) == (
        "A2 POST /v1/things",
        "POST",
        "/v1/things",
    )
    assert record.idempotency_key is not None
    assert record.trace_id is not None
    assert record.request_headers["traceparent"].split("-")[1] == record.trace_id
    assert record.response_headers["x-trace-id"] == record.trace_id
    assert record.elapsed_ms is not None
    assert record.elapsed_ms >= 0


def test_a_recorded_request_keeps_no_credential() -> None:
    rows = [r.to_dict() for rule in CASE_OF for r in run_case(rule, set()).records]

    assert rows
    assert "tok-t1" not in str(rows)
    assert "tok-t2" not in str(rows)
