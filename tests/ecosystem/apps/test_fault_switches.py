"""Each ``/_admin/faults`` switch does what it says on a running app (contract §9)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from urllib.parse import urlsplit

import pytest
from reftarget.core.faults import fault_draw

from tests.ecosystem.apps.target import STUDENT, Target, eventually, new_trace_id

pytestmark = pytest.mark.exclusive


def test_the_admin_plane_refuses_a_wrong_token(target: Target) -> None:
    response = target.http.get(
        target.url("A4", "/_admin/faults"), headers={"Authorization": "Bearer nope"}
    )
    assert response.status_code == 401


def test_503s_fall_on_the_trace_ids_the_draw_selects(target: Target) -> None:
    traces = [new_trace_id() for _ in range(30)]
    with target.faults("A4", error_503_fraction=0.5):
        statuses = [target.get("A4", "/health", {"X-Trace-Id": t}).status_code for t in traces]
    assert statuses == [503 if fault_draw(t) < 0.5 else 200 for t in traces]


def test_added_latency_slows_every_request(target: Target) -> None:
    with target.faults("A6", added_latency_ms=300):
        started = time.perf_counter()
        target.get("A6", "/health")
        assert time.perf_counter() - started >= 0.3


def test_ready_fails_turns_ready_503(target: Target) -> None:
    with target.faults("A7", ready_fails=True):
        response = target.get("A7", "/ready")
    assert response.status_code == 503
    assert response.json()["status"] == "not_ready"


def test_a_cold_start_serves_health_but_is_not_ready_until_warm(target: Target) -> None:
    target.eco.cold_start("A3", 2.0)
    assert target.get("A3", "/health").status_code == 200
    assert target.get("A3", "/ready").status_code == 503
    assert eventually(lambda: target.get("A3", "/ready").status_code == 200, 10.0)


def test_without_require_428_a_bare_mutation_is_accepted(target: Target) -> None:
    with target.faults("A4", disabled_rules=["require_428"]):
        response = target.post("A4", "/v1/work", {"kind": "quiz"}, target.auth())
    assert response.status_code == 201


def test_without_dedupe_a_repeat_is_done_twice(target: Target) -> None:
    reference = f"ref-{uuid.uuid4()}"
    headers = target.mutation_headers()
    with target.faults("A4", disabled_rules=["dedupe"]):
        for _ in range(2):
            target.post("A4", "/v1/work", {"kind": "quiz", "reference": reference}, headers)
    items = target.get("A4", f"/v1/work?reference={reference}", target.auth()).json()["items"]
    assert len(items) == 2


def test_dedupe_keyed_on_the_trace_id_charges_a_retry_twice(target: Target) -> None:
    headers = target.mutation_headers()
    retry = {**headers, "X-Trace-Id": new_trace_id()}
    with target.faults("A2", disabled_rules=["dedupe_without_trace"]):
        first = target.post("A2", "/v1/checkout", {"kind": "lesson"}, headers)
        second = target.post("A2", "/v1/checkout", {"kind": "lesson"}, retry)
    assert first.json()["payment_intent_id"] != second.json()["payment_intent_id"]


def test_without_tenant_scope_another_tenants_row_leaks(target: Target) -> None:
    created = target.post("A4", "/v1/work", {"kind": "quiz"}, target.mutation_headers())
    # A4's work items are also their student's own (FERPA, contract §14): ferpa_scope off
    # too, so only the tenant rule stands between the provider and the student's row.
    with target.faults("A4", disabled_rules=["tenant_scope", "ferpa_scope"]):
        leaked = target.get("A4", created.headers["location"], target.auth("test_provider_e2e_01"))
    assert leaked.status_code == 200


def test_without_fee_rounding_the_fee_is_truncated(target: Target) -> None:
    provider = "test_provider_e2e_01"
    target.post("A6", "/v1/providers", {"display_name": "QA"}, target.mutation_headers(provider))
    with target.faults("A6", disabled_rules=["fee_rounding"]):
        bill = target.post(
            "A6", "/v1/billing", {"gross_cents": 150}, target.mutation_headers(provider)
        )
    assert bill.json()["fee_cents"] == 4, "4.5 cents truncated, not rounded half up to 5"


def login_set_cookie(target: Target) -> str:
    """Log the synthetic student in on A1's form (PKCE) and return the session cookie."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    issuer = target.url("A1")
    form = {
        "response_type": "code",
        "client_id": "student-web",
        "redirect_uri": target.url("A5", "/auth/callback"),
        "code_challenge": challenge.decode(),
        "code_challenge_method": "S256",
        "state": "s",
        "username": STUDENT,
        "password": target.secrets["OIDC_CLIENT_SECRET"],
    }
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(issuer))
    response = target.http.post(f"{issuer}/oauth/authorize", data=form, headers={"Origin": origin})
    assert response.status_code == 303, response.text
    return response.headers["set-cookie"]


def test_without_cookie_attributes_the_session_cookie_is_weakened(target: Target) -> None:
    healthy = login_set_cookie(target)
    assert "Secure" in healthy
    assert "SameSite=None" in healthy
    with target.faults("A1", disabled_rules=["cookie_attributes"]):
        weakened = login_set_cookie(target)
    assert "Secure" not in weakened
    assert "SameSite=None" not in weakened


def test_a_dropped_fraction_of_telemetry_never_includes_money(target: Target) -> None:
    provider = "test_provider_e2e_01"
    target.post("A6", "/v1/providers", {"display_name": "QA"}, target.mutation_headers(provider))
    listing = target.post("A6", "/v1/listings", {"title": "T"}, target.mutation_headers(provider))
    publish = target.mutation_headers(provider)
    bill = target.mutation_headers(provider)
    with target.faults("A6", telemetry_drop_fraction=1.0):
        target.post("A6", f"/v1/listings/{listing.json()['listing_id']}/publish", {}, publish)
        target.post("A6", "/v1/billing", {"gross_cents": 1000}, bill)
    marker = target.mutation_headers(provider)
    later = target.post("A6", "/v1/listings", {"title": "T"}, target.mutation_headers(provider))
    target.post("A6", f"/v1/listings/{later.json()['listing_id']}/publish", {}, marker)
    assert target.wait_for_events(marker["X-Trace-Id"], "provider_listing_published")
    assert target.wait_for_events(bill["X-Trace-Id"], "revenue_settled")
    assert target.events(publish["X-Trace-Id"], "provider_listing_published") == []


def qa_event(target: Target, trace_id: str) -> dict[str, object]:
    """A complete synthetic event (tags test_run/qa) for A8's ingest."""
    return {
        "event": "http_request",
        "timestamp": "2026-11-26T03:00:00.000Z",
        "app_id": "A8",
        "route": "/_qa/fault-switch",
        "status": 200,
        "latency_ms": 1.0,
        "p95_ms": 1.0,
        "trace_id": trace_id,
        "idempotency_key": f"qa-{uuid.uuid4()}",
        "tenant_id": None,
        "finance_metrics": None,
        "revenue_event_id": None,
        "sample_rate": 0.1,
        "tags": {"test_run": True, "source": "qa", "env": target.map["env"]},
        "event_id": str(uuid.uuid4()),
        "data": None,
    }


def ingest(target: Target, events: list[dict[str, object]]) -> None:
    answer = target.http.post(
        target.url("A8", "/v1/events"),
        json=events,
        headers={"Authorization": f"Bearer {target.secrets['A8_TELEMETRY_KEY']}"},
    )
    assert answer.status_code == 200
    assert answer.json()["rejected"] == 0


def test_without_a8_dedupe_a8_stores_every_copy(target: Target) -> None:
    trace = new_trace_id(1)
    copy = qa_event(target, trace)
    with target.faults("A8", disabled_rules=["a8_dedupe"]):
        ingest(target, [copy, copy])
    ingest(target, [copy])  # the rule back on: a third copy is a duplicate again
    assert len(target.events(trace)) == 2


def test_without_event_schema_a8_stores_events_without_p95(target: Target) -> None:
    faulted, healthy = new_trace_id(1), new_trace_id(1)
    with target.faults("A8", disabled_rules=["event_schema"]):
        ingest(target, [qa_event(target, faulted)])
    ingest(target, [qa_event(target, healthy)])
    [lost] = target.events(faulted)
    [kept] = target.events(healthy)
    assert "p95_ms" not in lost
    assert kept["p95_ms"] == 1.0
