"""Contract §14 on the running reference: academic integrity (A4, through A5 too), FERPA
scope of A4's work items, PII kept out of telemetry, and each rule's fault switch."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ecosystem.apps.target import PROVIDER, SAMPLED_IN_LOW64, Target, new_trace_id

GRADED = "Write my exam answers for tomorrow's chemistry final"
STUDY = "Explain photosynthesis step by step so I can study for my exam"


def _work_ids(target: Target, subject: str | None = None) -> set[str]:
    headers = target.auth(subject) if subject else target.auth()
    return {item["id"] for item in target.get("A4", "/v1/work", headers).json()["items"]}


def _client_token(target: Target) -> dict[str, str]:
    """The QA client acting as itself: another principal of the student's tenant."""
    answer = target.http.post(
        target.url("A1", "/oauth/token"),
        data={"grant_type": "client_credentials"},
        auth=(target.map["identity"]["qa_client_id"], target.secrets["OIDC_CLIENT_SECRET"]),
    )
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _balance(target: Target) -> int:
    balance: int = target.get("A5", "/v1/credits", target.auth()).json()["balance"]
    return balance


def _activated(target: Target) -> None:
    response = target.post("A5", "/v1/activations", {}, target.mutation_headers())
    assert response.status_code in (200, 201), response.text


def test_a4_refuses_graded_work_and_records_nothing(target: Target) -> None:
    before = _work_ids(target)
    response = target.post(
        "A4", "/v1/work", {"kind": "explain", "prompt": GRADED}, target.mutation_headers()
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("academic-integrity")
    assert _work_ids(target) == before
    helped = target.post(
        "A4", "/v1/work", {"kind": "explain", "prompt": STUDY}, target.mutation_headers()
    )
    assert helped.status_code == 201, helped.text


def test_a5_passes_the_refusal_on_without_spending(target: Target) -> None:
    _activated(target)
    before = _balance(target)
    trace = new_trace_id(SAMPLED_IN_LOW64)
    response = target.post(
        "A5",
        "/v1/credits/spend",
        {"kind": "explain", "prompt": GRADED},
        target.mutation_headers(**{"X-Trace-Id": trace}),
    )
    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("academic-integrity")
    assert _balance(target) == before
    helped = target.post(
        "A5", "/v1/credits/spend", {"kind": "explain", "prompt": STUDY}, target.mutation_headers()
    )
    assert helped.status_code == 201, helped.text
    assert _balance(target) < before
    assert target.events(trace, "credit_decrement") == []


def test_a_work_item_is_read_by_its_student_only(target: Target) -> None:
    made = target.post("A4", "/v1/work", {"kind": "quiz"}, target.mutation_headers())
    work_id = made.json()["id"]
    path = f"/v1/work/{work_id}"
    assert target.get("A4", path, target.auth()).status_code == 200
    assert target.get("A4", path, _client_token(target)).status_code == 404
    assert target.get("A4", path, target.auth(PROVIDER)).status_code == 404
    assert work_id not in target.get("A4", "/v1/work", _client_token(target)).text


def test_student_record_reads_are_marked_in_the_openapi_documents(target: Target) -> None:
    marked = {
        (app_id, path)
        for app_id in ("A4", "A5")
        for path, item in target.get(app_id, "/openapi.json").json()["paths"].items()
        if item.get("get", {}).get("x-student-records") is True
    }
    assert marked == {("A4", "/v1/work"), ("A4", "/v1/work/{work_id}"), ("A5", "/v1/credits")}


def _decrement_data(target: Target, user_agent: str) -> Any:
    trace = new_trace_id(SAMPLED_IN_LOW64)
    headers = target.mutation_headers(**{"X-Trace-Id": trace, "User-Agent": user_agent})
    response = target.post("A5", "/v1/credits/spend", {"kind": "explain", "prompt": STUDY}, headers)
    assert response.status_code == 201, response.text
    events = target.wait_for_events(trace, "credit_decrement")
    assert len(events) == 1
    return events[0]["data"]


@pytest.mark.exclusive
def test_each_compliance_switch_breaks_its_rule(target: Target) -> None:
    _activated(target)
    assert _decrement_data(target, "ua-canary-clean") is None
    with target.faults("A5", disabled_rules=["pii_minimization"]):
        leaked = _decrement_data(target, "ua-canary-leak")
    assert leaked == {"prompt": STUDY, "user_agent": "ua-canary-leak", "client_ip": None}
    with target.faults("A4", disabled_rules=["academic_integrity"]):
        done = target.post(
            "A4", "/v1/work", {"kind": "explain", "prompt": GRADED}, target.mutation_headers()
        )
    assert done.status_code == 201
    made = target.post("A4", "/v1/work", {"kind": "quiz"}, target.mutation_headers())
    path = f"/v1/work/{made.json()['id']}"
    with target.faults("A4", disabled_rules=["ferpa_scope"]):
        assert target.get("A4", path, _client_token(target)).status_code == 200
        assert target.get("A4", path, target.auth(PROVIDER)).status_code == 404
