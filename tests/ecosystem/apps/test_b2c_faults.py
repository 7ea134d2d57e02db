"""Each B2C fault switch breaks the journey where docs/reference-target.md says (issue 10)."""

from __future__ import annotations

import pytest

from tests.ecosystem.apps.b2c import Walk, journey_tile, owned, result_of
from tests.ecosystem.apps.target import Target, eventually

pytestmark = pytest.mark.exclusive


def test_funnel_headers_off_lets_a_funnel_step_mutate_without_the_headers(
    target: Target,
) -> None:
    url = target.url("A2", "/checkout/pay")
    assert target.http.post(url, data={"session": "cs_none"}).status_code == 428
    with target.faults("A2", disabled_rules=["funnel_headers"]):
        assert target.http.post(url, data={"session": "cs_none"}).status_code == 404
    # a route that is no funnel step keeps the rule
    with target.faults("A2", disabled_rules=["funnel_headers"]):
        other = target.http.post(target.url("A2", "/v1/checkout"), json={}, headers=target.auth())
    assert other.status_code == 428


def test_cookie_ttl_domain_off_sets_a_lifetime_other_than_the_maps(
    target: Target, walk: Walk
) -> None:
    journey = walk(91)
    with target.faults("A1", disabled_rules=["cookie_ttl_domain"]):
        answer = journey.sign_up()
    [cookie] = answer.headers.get_list("set-cookie")
    assert "Max-Age=60;" in cookie
    assert f"Max-Age={target.map['identity']['browser_login']['session_ttl_s']}" not in cookie


def test_cookie_attributes_off_drops_samesite_none_and_secure_on_sign_up(
    target: Target, walk: Walk
) -> None:
    journey = walk(92)
    with target.faults("A1", disabled_rules=["cookie_attributes"]):
        answer = journey.sign_up()
    [cookie] = answer.headers.get_list("set-cookie")
    assert "SameSite=None" not in cookie
    assert "Secure" not in cookie


def test_redirect_uri_exact_off_fails_the_journey_at_the_callback(
    target: Target, walk: Walk
) -> None:
    journey = walk(93)
    with target.faults("A5", disabled_rules=["redirect_uri_exact"]):
        answer = journey.callback()
    assert answer.status_code == 502
    problem = answer.json()
    assert problem["type"].endswith("code-redemption-failed")
    assert "redirect_uri" in problem["detail"]


def test_attribution_mapping_off_attributes_to_no_arm(target: Target, walk: Walk) -> None:
    journey = walk(94)
    with target.faults("A3", disabled_rules=["attribution_mapping"]):
        paid = journey.pay()
    assert result_of(paid)["status"] == "succeeded"  # the journey goes on: a silent loss

    def settled() -> bool:
        steps = {s["step"]: s for s in journey_tile(target, journey.trace_id)["steps"]}
        return steps["b2c.settlement"]["received_at"] is not None

    assert eventually(settled)
    steps = {s["step"]: s for s in journey_tile(target, journey.trace_id)["steps"]}
    assert steps["b2c.attribution"]["received_at"] is None
    assert owned(target, journey.username).json()["owned"].get("A3") is None


def test_approved_test_card_off_declines_every_checkout(target: Target, walk: Walk) -> None:
    journey = walk(95)
    with target.faults("A2", disabled_rules=["approved_test_card"]):
        paid = journey.pay()
    assert paid.status_code == 402
    assert result_of(paid) == {"status": "failed", "payment_intent": ""}


def test_coppa_age_gate_off_signs_up_a_child_without_consent(target: Target, walk: Walk) -> None:
    journey = walk(96)
    with target.faults("A1", disabled_rules=["coppa_age_gate"]):
        answer = journey.sign_up(age="9")
    assert answer.status_code == 303
    assert owned(target, journey.username).status_code == 200
