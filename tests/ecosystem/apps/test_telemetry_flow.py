"""Telemetry from the apps to A8: sampling by trace id, errors and money always, tags."""

from __future__ import annotations

import pytest

from tests.ecosystem.apps.target import (
    SAMPLED_IN_LOW64,
    SAMPLED_OUT_LOW64,
    SYNTHETIC,
    Target,
    new_trace_id,
)


def test_a_sampled_in_request_reaches_a8_and_a_sampled_out_one_does_not(target: Target) -> None:
    sampled_out = new_trace_id(SAMPLED_OUT_LOW64)
    sampled_in = new_trace_id(SAMPLED_IN_LOW64)
    target.get("A4", "/health", {"X-Trace-Id": sampled_out})
    target.get("A4", "/health", {"X-Trace-Id": sampled_in})
    [kept] = target.wait_for_events(sampled_in, "http_request")
    assert (kept["app_id"], kept["route"], kept["status"], kept["sample_rate"]) == (
        "A4",
        "/health",
        200,
        0.1,
    )
    assert target.events(sampled_out) == []


@pytest.mark.exclusive
def test_errors_reach_a8_whatever_their_trace_id(target: Target) -> None:
    trace = new_trace_id(SAMPLED_OUT_LOW64)
    with target.faults("A4", error_503_fraction=1.0):
        assert target.get("A4", "/health", {"X-Trace-Id": trace}).status_code == 503
    [error] = target.wait_for_events(trace, "http_request")
    assert (error["status"], error["sample_rate"]) == (503, 1.0)


def test_money_events_reach_a8_whatever_their_trace_id(target: Target) -> None:
    headers = target.mutation_headers(**{"X-Trace-Id": new_trace_id(SAMPLED_OUT_LOW64)})
    assert target.post("A2", "/v1/checkout", {"kind": "lesson"}, headers).status_code == 201
    events = target.wait_for_events(
        headers["X-Trace-Id"], count=2, where=lambda e: e["event"] != "http_request"
    )
    assert {e["event"] for e in events} == {"checkout_completed", "revenue_settled"}
    assert {e["sample_rate"] for e in events} == {1.0}


def test_synthetic_requests_produce_synthetic_events(target: Target) -> None:
    headers = target.mutation_headers()
    assert SYNTHETIC.items() <= headers.items()
    target.post(
        "A7", "/v1/pages", {"slug": f"p{headers['X-Trace-Id'][:12]}", "title": "T"}, headers
    )
    [event] = target.wait_for_events(headers["X-Trace-Id"], "page_build_requested")
    assert event["tags"] == {"test_run": True, "source": "qa", "env": "embedded"}
    assert event["tenant_id"] == "tenant_qa_b2c"
    assert event["idempotency_key"] == headers["X-Idempotency-Key"]
    assert event["route"] == "/v1/pages"
