"""Side-effect claims judged on A8's events (and collections), with hand-made events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from secondconf.checks.hardening.effects import business_effects, judge_claim, judge_labels
from secondconf.checks.hardening.model import CaseResult, EffectClaim, RouteState
from secondconf.target.a8 import StoredEvent
from secondconf.target.routes import MutatingRoute

NOW = datetime(2026, 11, 26, tzinfo=UTC)
ROUTE = MutatingRoute("A2", "POST", "/v1/checkout", {})
SYNTHETIC = {"test_run": True, "source": "qa", "env": "staging"}


def event(name: str, trace: str, key: str | None = "k1", **extra: Any) -> StoredEvent:
    values: dict[str, Any] = {
        "event": name,
        "app_id": "A2",
        "route": "/v1/checkout",
        "status": 201,
        "latency_ms": 1.0,
        "trace_id": trace,
        "timestamp": NOW,
        "received_at": NOW,
        "sample_rate": 1.0,
        "tags": SYNTHETIC,
        "idempotency_key": key,
        "tenant_id": "t1",
        **extra,
    }
    return StoredEvent(**values)


BASELINE = {"tb": [event("checkout_completed", "tb", "kb"), event("revenue_settled", "tb", "kb")]}
STATE = RouteState(ROUTE, baseline=("tb", "kb"))


def judged(
    claim: EffectClaim, events: dict[str, list[StoredEvent]], state: RouteState = STATE
) -> CaseResult:
    case = CaseResult("IDEM-09", "A2", ROUTE.label)
    baseline = business_effects(BASELINE, [state.baseline]) if state.baseline else {}
    judge_claim(case, claim, {**BASELINE, **events}, baseline, state.listed_once)
    return case


def test_one_execution_across_two_traces_holds() -> None:
    events = {
        "t1": [event("checkout_completed", "t1"), event("revenue_settled", "t1")],
        "t2": [event("http_request", "t2")],
    }
    case = judged(EffectClaim((("t1", "k1"), ("t2", "k1")), 1, "retry"), events)
    assert case.violations == []


def test_a_second_execution_under_a_new_trace_fails() -> None:
    events = {"t1": [event("checkout_completed", "t1")], "t2": [event("checkout_completed", "t2")]}
    case = judged(EffectClaim((("t1", "k1"), ("t2", "k1")), 1, "retry"), events)
    assert case.violations == [
        "retry: 2 checkout_completed in A8, more than 1 execution(s) cause "
        "(one causes 1 checkout_completed, 1 revenue_settled)"
    ]


def test_a_rejected_request_with_any_business_event_fails() -> None:
    case = judged(
        EffectClaim((("t1", None),), 0, "428"), {"t1": [event("revenue_settled", "t1", None)]}
    )
    assert case.violations == ["428: caused 1 revenue_settled in A8, expected nothing"]


def test_an_execution_a8_never_saw_fails_and_background_keys_do_not_count() -> None:
    events = {"t1": [event("run_progress", "t1", key="run/1/cycle/1")]}
    case = judged(EffectClaim((("t1", "k1"),), 1, "one run"), events)
    assert case.violations == ["one run: none of its events reached A8"]


@pytest.mark.parametrize(("listed", "violations"), [(1, 0), (2, 1), (0, 1)])
def test_a_route_without_events_is_counted_in_its_collection(listed: int, violations: int) -> None:
    state = RouteState(ROUTE, baseline=("tx", "kx"), listed_once=1)
    case = judged(EffectClaim((("t1", "k1"),), 1, "work", listed=listed), {}, state)
    assert len(case.violations) == violations


def test_without_events_or_a_collection_the_effects_are_noted_not_passed() -> None:
    state = RouteState(ROUTE, baseline=("tx", "kx"))
    case = judged(EffectClaim((("t1", "k1"),), 1, "grant"), {}, state)
    assert case.violations == []
    assert case.notes == [
        "grant: side effects not observable (one execution causes no business event in A8 "
        "and lists nothing readable); judged on the answers only"
    ]


@pytest.mark.parametrize(
    ("tags", "tenant", "violation"),
    [
        ({**SYNTHETIC, "test_run": False}, "t1", "checkout_completed tagged"),
        ({**SYNTHETIC, "source": None}, "t1", "checkout_completed tagged"),
        ({**SYNTHETIC, "env": "prod_observe"}, "t1", "checkout_completed tagged"),
        (SYNTHETIC, "t2", "names tenant 't2', not the synthetic identity's 't1'"),
    ],
)
def test_prd40_labels_every_event_of_a_synthetic_write(
    tags: dict[str, Any], tenant: str, violation: str
) -> None:
    claim = EffectClaim((("t1", "k1"),), 1, "synthetic", tenant="t1")
    clean = CaseResult("PRD-40", "A2", ROUTE.label)
    judge_labels(clean, claim, {"t1": [event("checkout_completed", "t1")]}, "staging")
    assert clean.violations == []
    case = CaseResult("PRD-40", "A2", ROUTE.label)
    bad = event("checkout_completed", "t1", tags=tags, tenant_id=tenant)
    judge_labels(case, claim, {"t1": [bad]}, "staging")
    assert any(violation in v for v in case.violations), case.violations
