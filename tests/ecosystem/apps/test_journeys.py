"""Business flows across apps: the bandit learns, credits buy A4 work, runs heal, breakers open."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.ecosystem.apps.target import (
    PROVIDER,
    SAMPLED_IN_LOW64,
    Target,
    eventually,
    new_trace_id,
)

ARMS = ("start_free_trial", "book_a_demo", "get_started_now")


def published_page(target: Target) -> dict[str, str]:
    slug = f"page-{uuid.uuid4().hex[:12]}"
    created = target.post(
        "A7", "/v1/pages", {"slug": slug, "title": "Algebra"}, target.mutation_headers()
    )
    page: dict[str, str] = created.json()
    target.post("A7", f"/v1/pages/{page['id']}/publish", {}, target.mutation_headers())
    return page


def test_a_landing_page_shows_a_cta_the_bandit_chose(target: Target) -> None:
    page = published_page(target)
    trace = uuid.uuid4().hex
    landing = target.get("A7", f"/p/{page['slug']}", {"X-Trace-Id": trace})
    assert landing.status_code == 200
    assert landing.headers["x-cta-arm"] in ARMS
    assert f'data-arm="{landing.headers["x-cta-arm"]}"' in landing.text
    assert target.url("A5", "/auth/start?page_id=") in landing.text  # the CTA starts sign-up
    [emitted] = target.wait_for_events(trace, "cta_emitted")
    choice = emitted["data"]
    assert (choice["page_id"], choice["arm"]) == (page["id"], landing.headers["x-cta-arm"])
    assert 0.0 <= choice["propensity"] <= 1.0


def impression(
    target: Target, page: dict[str, str], arm: str, **outcome: int
) -> tuple[dict[str, Any], str]:
    """Report one impression with a trace A8 keeps at 10 %; the answer and its trace id."""
    headers = target.mutation_headers(**{"X-Trace-Id": new_trace_id(SAMPLED_IN_LOW64)})
    body = {"page_id": page["id"], "arm": arm, **outcome}
    answer = target.post("A7", "/v1/impressions", body, headers)
    assert answer.status_code == 201, answer.text
    recorded: dict[str, Any] = answer.json()
    return recorded, headers["X-Trace-Id"]


def test_an_impression_records_its_arm_and_propensity(target: Target) -> None:
    page = published_page(target)
    recorded, trace = impression(target, page, "get_started_now", page_view=1)
    assert recorded["arm"] == "get_started_now"
    assert isinstance(recorded["propensity"], float)
    assert 0.0 <= recorded["propensity"] <= 1.0
    [event] = target.wait_for_events(trace, "cta_impression")
    audit = ("impression_id", "page_id", "arm", "propensity", "reward")
    assert event["data"] == {name: recorded[name] for name in audit}
    assert event["data"]["reward"] == 0.05


def test_a_changed_config_is_emitted_with_its_figures(target: Target) -> None:
    page = published_page(target)
    full = {"page_view": 1, "lead": 1, "checkout": 1}  # reward 1: always a success
    recorded, trace = impression(target, page, "start_free_trial", **full)
    assert recorded["config_changed"]
    [event] = target.wait_for_events(trace, "bandit_config")
    config = recorded["config"]
    assert event["data"] == {
        "arm_weights": config["arm_weights"],
        "exploration_rate": config["exploration_rate"],
    }
    assert sum(config["arm_weights"].values()) == pytest.approx(1.0)
    read = target.get("A7", "/v1/bandit/config", target.auth()).json()
    assert set(read) == {"arm_weights", "exploration_rate", "updated_at"}


def test_the_bandit_config_route_is_a_published_get(target: Target) -> None:
    operation = target.get("A7", "/openapi.json").json()["paths"]["/v1/bandit/config"]["get"]
    assert operation["x-contract-rules"] is False  # no idempotency key or trace id needed


def test_the_bandit_shifts_toward_the_arm_that_converts(target: Target) -> None:
    page = published_page(target)
    before = target.get("A7", "/v1/bandit/config", target.auth()).json()["arm_weights"]
    for _ in range(12):
        for arm in ARMS:
            wins = arm == "book_a_demo"
            outcome = {
                "page_view": 1,
                "lead": int(wins),
                "checkout": int(wins),
                "complaint": int(not wins),
            }
            body = {"page_id": page["id"], "arm": arm, **outcome}
            assert (
                target.post("A7", "/v1/impressions", body, target.mutation_headers()).status_code
                == 201
            )
    after = target.get("A7", "/v1/bandit/config", target.auth()).json()
    assert max(after["arm_weights"], key=after["arm_weights"].get) == "book_a_demo"
    assert after["arm_weights"]["book_a_demo"] > before["book_a_demo"]


def fund_student(target: Target) -> None:
    target.post("A5", "/v1/activations", {}, target.mutation_headers())
    target.post("A5", "/v1/credits/grants", {"credits": 200}, target.mutation_headers())


def spend_succeeds(target: Target) -> bool:
    body = {"kind": "explain"}
    return (
        target.post("A5", "/v1/credits/spend", body, target.mutation_headers()).status_code == 201
    )


def test_spending_credits_buys_a4_work_and_emits_the_decrement(target: Target) -> None:
    fund_student(target)
    headers = target.mutation_headers(**{"X-Trace-Id": new_trace_id(SAMPLED_IN_LOW64)})
    spend = target.post("A5", "/v1/credits/spend", {"kind": "explain", "units": 2}, headers)
    assert spend.status_code == 201, spend.text
    body = spend.json()
    assert body["credits"] == 24
    assert target.get("A4", f"/v1/work/{body['work_id']}", target.auth()).status_code == 200
    [event] = target.wait_for_events(headers["X-Trace-Id"], "credit_decrement")
    assert event["finance_metrics"]["cost_cents"] == 6
    assert event["finance_metrics"]["billed_cents"] == 24
    [a4_call] = target.wait_for_events(
        headers["X-Trace-Id"], "http_request", where=lambda e: e["app_id"] == "A4"
    )
    assert (a4_call["route"], a4_call["tenant_id"]) == ("/v1/work", "tenant_qa_b2c")
    assert a4_call["tags"]["test_run"] is True


def test_activation_first_use_is_emitted_once_per_account(target: Target) -> None:
    first = target.mutation_headers(PROVIDER)
    again = target.mutation_headers(PROVIDER, **{"X-Trace-Id": new_trace_id(SAMPLED_IN_LOW64)})
    first_answer = target.post("A5", "/v1/activations", {}, first).json()
    assert target.post("A5", "/v1/activations", {}, again).json()["first_use"] is False
    if first_answer["first_use"]:
        assert target.wait_for_events(first["X-Trace-Id"], "activation_first_use")
    assert target.wait_for_events(again["X-Trace-Id"], "http_request")
    assert target.events(again["X-Trace-Id"], "activation_first_use") == []


def test_a_run_progresses_and_heals_a_failing_cycle(target: Target) -> None:
    headers = target.mutation_headers()
    run = target.post(
        "A3",
        "/v1/runs",
        {"goal": "g", "cycles": 2, "cycle_interval_ms": 0, "fail_attempts": 1},
        headers,
    )
    assert run.status_code == 201
    location = run.headers["location"]
    assert eventually(
        lambda: target.get("A3", location, target.auth()).json()["state"] == "completed", 15.0
    )
    status = target.get("A3", location, target.auth()).json()
    assert (status["cycles_succeeded"], status["heals"]) == (2, 2)
    trace = headers["X-Trace-Id"]
    assert len(target.wait_for_events(trace, "orchestration_cycle_complete", count=2)) == 2
    assert target.wait_for_events(trace, "run_progress")
    assert target.wait_for_events(trace, "cycle_auto_healed")


def test_a_manual_intervention_is_recorded(target: Target) -> None:
    run = target.post(
        "A3",
        "/v1/runs",
        {"goal": "g", "cycles": 20, "cycle_interval_ms": 500},
        target.mutation_headers(),
    )
    location = run.headers["location"]
    paused = target.post(
        "A3", f"{location}/interventions", {"action": "pause"}, target.mutation_headers()
    )
    assert paused.json()["state"] == "paused"
    assert paused.json()["manual_interventions"] == 1
    target.post("A3", f"{location}/interventions", {"action": "abort"}, target.mutation_headers())


def test_a_conversion_is_attributed_once(target: Target) -> None:
    body = {"conversion_id": f"chk_{uuid.uuid4().hex}", "cta_arm": "book_a_demo", "page_id": "pg_x"}
    assert target.post("A3", "/v1/attributions", body, target.mutation_headers()).status_code == 201
    assert target.post("A3", "/v1/attributions", body, target.mutation_headers()).status_code == 200
    clash = {**body, "cta_arm": "start_free_trial"}
    assert (
        target.post("A3", "/v1/attributions", clash, target.mutation_headers()).status_code == 409
    )


@pytest.mark.exclusive
def test_a5s_breaker_opens_when_a4_keeps_failing(target: Target) -> None:
    fund_student(target)
    statuses = []
    trace_ids = []
    with target.faults("A4", error_503_fraction=1.0):
        for _ in range(7):
            headers = target.mutation_headers()
            trace_ids.append(headers["X-Trace-Id"])
            statuses.append(
                target.post("A5", "/v1/credits/spend", {"kind": "explain"}, headers).status_code
            )
    assert 502 in statuses
    assert statuses[-1] == 503, statuses
    assert any(target.wait_for_events(t, "circuit_opened", timeout_s=1.0) for t in trace_ids)
    assert eventually(lambda: spend_succeeds(target), 10.0), "the breaker closes again"


@pytest.mark.exclusive
def test_state_survives_a_restart(target: Target) -> None:
    headers = target.mutation_headers()
    created = target.post("A4", "/v1/work", {"kind": "quiz"}, headers)
    target.eco.restart("A4")
    assert target.get("A4", created.headers["location"], target.auth()).status_code == 200
    replay = target.post("A4", "/v1/work", {"kind": "quiz"}, headers)
    assert replay.headers["idempotent-replayed"] == "true"


def test_a_page_with_its_own_bandit_leaves_the_shared_one_alone(target: Target) -> None:
    slug = f"own-{uuid.uuid4().hex[:12]}"
    body = {"slug": slug, "title": "Own", "bandit": "own"}
    page = target.post("A7", "/v1/pages", body, target.mutation_headers()).json()
    target.post("A7", f"/v1/pages/{page['id']}/publish", {}, target.mutation_headers())
    shared_before = target.get("A7", "/v1/bandit/config", target.auth()).json()
    impression(target, page, "book_a_demo", page_view=1, lead=1, checkout=1)
    own = target.get("A7", f"/v1/bandit/config?page_id={page['id']}", target.auth()).json()
    assert own["posteriors"]["book_a_demo"] == {"alpha": 2.0, "beta": 1.0, "mean": 2 / 3}
    assert own["arm_weights"]["book_a_demo"] > 1 / 3
    assert target.get("A7", "/v1/bandit/config", target.auth()).json() == shared_before
