"""The B2C funnel's routes over HTTP (issue 10): A7 -> A5 -> A1 sign-up -> A5 callback ->
A3 attribution -> A2 checkout page -> A8's funnel-status per trace; the COPPA gate; the
synthetic-identity deletion; what the OpenAPI documents and the system map say."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.ecosystem.apps.b2c import (
    Journey,
    Walk,
    delete_identity,
    journey_tile,
    owned,
    qa_headers,
    result_of,
)
from tests.ecosystem.apps.target import Target, eventually

STEPS = (
    "b2c.landing",
    "b2c.signup",
    "b2c.activation",
    "b2c.attribution",
    "b2c.checkout",
    "b2c.settlement",
)


def test_the_whole_journey_pays_and_a8_shows_every_step_of_its_trace(
    target: Target, walk: Walk
) -> None:
    journey = walk(80)
    paid = journey.pay()
    assert paid.status_code == 200, paid.text
    result = result_of(paid)
    assert result["status"] == "succeeded"
    assert result["payment_intent"].startswith("pi_")
    assert journey.cta["arm"]
    assert journey.cta["page-id"].startswith("pg_")

    def complete() -> bool:
        return bool(journey_tile(target, journey.trace_id)["complete"])

    assert eventually(complete, timeout_s=15.0)
    tile = journey_tile(target, journey.trace_id)
    assert [step["step"] for step in tile["steps"]] == list(STEPS)
    assert all(step["timestamp"] and step["received_at"] for step in tile["steps"])
    events = target.events(journey.trace_id)
    business = [e for e in events if e["event"] != "http_request"]
    assert {e["app_id"] for e in events} >= {"A1", "A2", "A3", "A5", "A7"}
    untagged = [
        (e["app_id"], e["event"], e["route"])
        for e in events
        if e["tags"]["test_run"] is not True or e["tags"]["source"] != "qa"
    ]
    assert not untagged
    [attributed] = [e for e in business if e["event"] == "conversion_attributed"]
    assert attributed["data"]["arm"] == journey.cta["arm"]
    assert attributed["data"]["page_id"] == journey.cta["page-id"]


def test_the_payment_intent_carries_the_trace_and_the_synthetic_tags(
    target: Target, walk: Walk
) -> None:
    journey = walk(81)
    intent_id = result_of(journey.pay())["payment_intent"]
    stripe = target.http.get(
        f"{target.map['stripe']['api_base']}/v1/payment_intents/{intent_id}",
        headers={"Authorization": f"Bearer {target.secrets['STRIPE_SECRET_KEY']}"},
    ).json()
    assert (stripe["amount"], stripe["currency"], stripe["status"]) == (50, "usd", "succeeded")
    metadata = stripe["metadata"]
    assert metadata["trace_id"] == journey.trace_id
    assert (metadata["test_run"], metadata["source"]) == ("true", "qa")


def test_the_cta_starts_pkce_for_student_web_with_prompt_create(walk: Walk) -> None:
    journey = walk(82)
    form = journey.signup_form()
    start = journey.answers["start"]
    assert start.status_code == 302
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["client_id"] == ["student-web"]
    assert query["prompt"] == ["create"]
    assert query["code_challenge_method"] == ["S256"]
    assert "code_verifier" not in query
    assert form.status_code == 200
    assert '<form id="signup"' in form.text
    for name in ("username", "password", "age", "parental_consent"):
        assert f'name="{name}"' in form.text


def test_sign_up_sets_the_session_cookie_as_the_map_states_and_emits_identity_ok(
    target: Target, walk: Walk
) -> None:
    journey = walk(83)
    answer = journey.sign_up()
    assert answer.status_code == 303
    assert answer.headers["location"].startswith(target.url("A5", "/auth/callback?"))
    [cookie] = answer.headers.get_list("set-cookie")
    login = target.map["identity"]["browser_login"]
    assert f"Max-Age={login['session_ttl_s']}" in cookie
    assert "Secure; HttpOnly; SameSite=None" in cookie
    assert "Domain" not in cookie  # the map: cookie_domain null (host-only)
    assert target.wait_for_events(journey.trace_id, "identity_ok")


def test_a_callback_cannot_be_replayed(target: Target, walk: Walk) -> None:
    journey = walk(84)
    first = journey.callback()
    assert first.status_code == 303
    again = journey.http.get(journey.answers["sign_up"].headers["location"])
    assert again.status_code == 400
    assert again.json()["type"].endswith("unknown-sign-in")


def test_a_name_outside_the_namespace_is_refused(target: Target) -> None:
    walk = Journey(target, "alice")
    try:
        answer = walk.sign_up()
    finally:
        walk.close()
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["type"].endswith("synthetic-namespace")


def test_under_13_without_consent_is_refused_and_nothing_is_stored(
    target: Target, walk: Walk
) -> None:
    journey = walk(85)
    answer = journey.sign_up(age="12")
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["type"].endswith("coppa-age-gate")
    assert "set-cookie" not in answer.headers
    assert owned(target, journey.username).status_code == 404
    assert not [e for e in target.events(journey.trace_id) if e["event"] == "identity_ok"]


def test_under_13_with_parental_consent_on_record_signs_up(target: Target, walk: Walk) -> None:
    journey = walk(86)
    recorded = target.http.post(
        target.url("A1", "/_admin/parental-consents"),
        json={"subject": journey.username},
        headers=target.admin(),
    )
    assert recorded.status_code == 201
    assert journey.sign_up(age="11").status_code == 303


def test_parental_consent_needs_the_admin_token_and_a_synthetic_subject(target: Target) -> None:
    url = target.url("A1", "/_admin/parental-consents")
    assert target.http.post(url, json={"subject": "test_student_e2e_87"}).status_code == 401
    outside = target.http.post(url, json={"subject": "alice"}, headers=target.admin())
    assert outside.status_code == 403


def test_a_declining_card_shows_a_failed_result(target: Target, walk: Walk) -> None:
    journey = walk(88)
    paid = journey.pay(payment_method="pm_card_chargeCustomerFail")
    assert paid.status_code == 402
    assert result_of(paid)["status"] == "failed"
    assert "declined" in paid.text


def test_deleting_an_identity_clears_every_app_and_is_proven_by_a_404(
    target: Target, walk: Walk
) -> None:
    journey = walk(89)
    assert result_of(journey.pay())["status"] == "succeeded"
    held = owned(target, journey.username)
    assert held.status_code == 200
    assert set(held.json()["owned"]) == {"A1", "A2", "A3", "A5"}
    assert delete_identity(target, journey.username).status_code == 204
    assert owned(target, journey.username).status_code == 404
    assert delete_identity(target, journey.username).status_code == 204  # nothing left: 204


def test_deletion_refuses_other_subjects_and_other_callers(target: Target) -> None:
    url = target.url("A1", "/v1/synthetic-identities/alice")
    assert target.http.delete(url, headers=qa_headers(target)).status_code == 403
    mine = target.url("A1", "/v1/synthetic-identities/test_student_e2e_90")
    student = target.mutation_headers()  # a student's token, not the qa client's
    assert target.http.delete(mine, headers=student).status_code == 403
    assert target.http.delete(mine).status_code == 401
    no_key = {k: v for k, v in qa_headers(target).items() if k != "X-Idempotency-Key"}
    assert target.http.delete(mine, headers=no_key).status_code == 428


def test_each_funnel_step_is_marked_in_its_apps_openapi(target: Target) -> None:
    expected = {
        ("A7", "/p/{slug}", "get"): "b2c.landing",
        ("A1", "/oauth/authorize", "get"): "b2c.signup",
        ("A1", "/oauth/authorize", "post"): "b2c.signup",
        ("A5", "/auth/callback", "get"): "b2c.activation",
        ("A3", "/v1/attributions", "post"): "b2c.attribution",
        ("A2", "/checkout/pay", "post"): "b2c.checkout",
    }
    for (app_id, path, method), step in expected.items():
        document = target.get(app_id, "/openapi.json").json()
        assert document["paths"][path][method].get("x-funnel-step") == step, (app_id, path)


def test_the_map_lists_the_b2c_pages_on_their_apps(target: Target) -> None:
    pages = target.map["pages"]
    assert pages["b2c.landing"].startswith(target.url("A7", "/p/"))
    assert pages["b2c.checkout"] == target.url("A2", "/checkout")
    assert target.get("A7", urlsplit(pages["b2c.landing"]).path).status_code == 200


def test_a_checkout_session_takes_known_kinds_and_optional_page_and_arm(target: Target) -> None:
    url = "/v1/checkout-sessions"
    unknown = target.post("A2", url, {"kind": "nope"}, target.mutation_headers())
    assert unknown.status_code == 400
    opened = target.post("A2", url, {"kind": "lesson"}, target.mutation_headers())
    assert opened.status_code == 201
    assert opened.json()["url"].startswith(target.map["pages"]["b2c.checkout"] + "?session=cs_")
    page = target.http.get(opened.json()["url"])
    assert page.status_code == 200
    assert '<form id="checkout"' in page.text
    assert 'id="pay"' in page.text


def test_the_deletion_routes_are_served_but_not_in_the_openapi_documents(target: Target) -> None:
    for app_id in ("A1", "A2", "A3", "A5"):
        paths = target.get(app_id, "/openapi.json").json()["paths"]
        assert "/v1/synthetic-identities/{subject}" not in paths, app_id
