"""Idempotent mutations on the running apps (contract §4), side effects counted by reads."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.ecosystem.apps.target import PROVIDER, Target, eventually, new_trace_id


def work_with_reference(
    target: Target, reference: str, subject: str | None = None
) -> list[dict[str, object]]:
    auth = target.auth() if subject is None else target.auth(subject)
    items: list[dict[str, object]] = target.get(
        "A4", f"/v1/work?reference={reference}", auth
    ).json()["items"]
    return items


def test_a_repeat_is_replayed_and_done_once(target: Target) -> None:
    reference = f"ref-{uuid.uuid4()}"
    headers = target.mutation_headers()
    first = target.post("A4", "/v1/work", {"kind": "quiz", "reference": reference}, headers)
    second = target.post("A4", "/v1/work", {"kind": "quiz", "reference": reference}, headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.content == first.content
    assert second.headers["idempotent-replayed"] == "true"
    assert len(work_with_reference(target, reference)) == 1


def test_the_same_key_with_a_new_trace_id_is_a_replay(target: Target) -> None:
    reference = f"ref-{uuid.uuid4()}"
    headers = target.mutation_headers()
    target.post("A4", "/v1/work", {"kind": "quiz", "reference": reference}, headers)
    retry = {**headers, "X-Trace-Id": new_trace_id()}
    second = target.post("A4", "/v1/work", {"kind": "quiz", "reference": reference}, retry)
    assert second.headers["idempotent-replayed"] == "true"
    assert len(work_with_reference(target, reference)) == 1


def test_a_reordered_body_is_a_replay(target: Target) -> None:
    reference = f"ref-{uuid.uuid4()}"
    headers = {**target.mutation_headers(), "Content-Type": "application/json"}
    url = target.url("A4", "/v1/work")
    target.http.post(
        url, content=f'{{"kind":"quiz","units":2,"reference":"{reference}"}}', headers=headers
    )
    second = target.http.post(
        url,
        content=f'{{ "reference": "{reference}", "units": 2, "kind": "quiz" }}',
        headers=headers,
    )
    assert second.headers["idempotent-replayed"] == "true"


def test_the_same_key_with_another_body_is_422_without_effect(target: Target) -> None:
    reference = f"ref-{uuid.uuid4()}"
    headers = target.mutation_headers()
    target.post("A4", "/v1/work", {"kind": "quiz", "reference": reference}, headers)
    other = target.post("A4", "/v1/work", {"kind": "lesson", "reference": reference}, headers)
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert len(work_with_reference(target, reference)) == 1


def test_identical_checkouts_released_together_charge_once(target: Target) -> None:
    headers = target.mutation_headers()
    barrier = threading.Barrier(6)

    def checkout(_: int) -> httpx.Response:
        with httpx.Client(verify=target.ssl, trust_env=False, timeout=30) as client:
            barrier.wait()
            return client.post(
                target.url("A2", "/v1/checkout"), json={"kind": "lesson"}, headers=headers
            )

    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(checkout, range(6)))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 409}, statuses
    fresh = [
        r for r in responses if r.status_code == 201 and "idempotent-replayed" not in r.headers
    ]
    assert len(fresh) == 1
    assert len({r.content for r in responses if r.status_code == 201}) == 1
    trace = headers["X-Trace-Id"]
    assert len(target.wait_for_events(trace, "checkout_completed")) == 1
    time.sleep(0.5)  # a second charge would have been delivered by now
    assert len(target.events(trace, "checkout_completed")) == 1


def test_the_same_key_under_two_tenants_is_two_requests(target: Target) -> None:
    reference = f"ref-{uuid.uuid4()}"
    key = {"X-Idempotency-Key": str(uuid.uuid4())}
    body = {"kind": "quiz", "reference": reference}
    student = target.post("A4", "/v1/work", body, target.mutation_headers(**key))
    provider = target.post("A4", "/v1/work", body, target.mutation_headers(PROVIDER, **key))
    assert "idempotent-replayed" not in provider.headers
    assert student.json()["id"] != provider.json()["id"]


def test_another_tenants_resource_is_404(target: Target) -> None:
    created = target.post("A4", "/v1/work", {"kind": "quiz"}, target.mutation_headers())
    location = created.headers["location"]
    assert target.get("A4", location, target.auth()).status_code == 200
    foreign = target.get("A4", location, target.auth(PROVIDER))
    assert foreign.status_code == 404
    assert foreign.headers["content-type"] == "application/problem+json"
    assert "cost_cents" not in foreign.text


@pytest.mark.exclusive
def test_the_key_is_free_again_after_the_ttl(target: Target) -> None:
    headers = target.mutation_headers()
    first = target.post("A4", "/v1/work", {"kind": "quiz"}, headers)
    with target.faults("A4", clock_offset_s=901):
        again = target.post("A4", "/v1/work", {"kind": "quiz"}, headers)
    assert "idempotent-replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]


@pytest.mark.exclusive
def test_a_request_that_died_mid_way_frees_its_key_after_the_lock_expiry(target: Target) -> None:
    target.post("A5", "/v1/activations", {}, target.mutation_headers())
    target.post("A5", "/v1/credits/grants", {"credits": 100}, target.mutation_headers())
    headers = target.mutation_headers()
    body = {"kind": "explain"}
    with target.faults("A4", added_latency_ms=4000), ThreadPoolExecutor(1) as pool:
        dying = pool.submit(target.post, "A5", "/v1/credits/spend", body, headers)
        time.sleep(1.0)
        target.eco.kill("A5")
        with pytest.raises(httpx.HTTPError):
            dying.result()
    target.eco.start("A5")
    assert target.post("A5", "/v1/credits/spend", body, headers).status_code == 409
    with target.faults("A5", clock_offset_s=31):
        done = target.post("A5", "/v1/credits/spend", body, headers)
    assert done.status_code == 201, done.text
    assert eventually(lambda: target.get("A5", "/ready").status_code == 200)
