"""Authorization code + PKCE through the login form, and the redirect_uri rules (OIDC-38)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import jwt
import pytest

if TYPE_CHECKING:
    from tests.ecosystem.identity.a1_server import A1, MovableClock

REGISTERED = "https://student.example.test/callback"


def test_login_then_code_exchange_issues_tokens_for_the_user(a1: A1, http: httpx.Client) -> None:
    _, code, verifier = a1.log_in(http)

    response = a1.exchange(http, code, verifier)

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    access = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert (access["sub"], access["tid"], access["aud"]) == (
        "test_student_e2e_01",
        "tenant_qa_b2c",
        "reftarget",
    )


def test_openid_scope_adds_an_id_token_for_the_client_with_the_nonce(
    a1: A1, http: httpx.Client
) -> None:
    verifier, challenge = a1.pkce_pair()
    params = a1.authorize_params(challenge, nonce="n-0123")
    code = a1.redirect_query(a1.submit_login(http, params))["code"]

    id_token = a1.exchange(http, code, verifier).json()["id_token"]

    claims = jwt.decode(id_token, options={"verify_signature": False})
    assert (claims["aud"], claims["nonce"], claims["iss"]) == ("student-web", "n-0123", a1.issuer)


def test_the_redirect_goes_to_the_registered_uri_with_state_and_iss(
    a1: A1, http: httpx.Client
) -> None:
    _, challenge = a1.pkce_pair()
    params = a1.authorize_params(challenge, state="xyz-state")

    response = a1.submit_login(http, params)

    assert response.status_code == 303
    assert response.headers["location"].startswith(REGISTERED + "?")
    query = a1.redirect_query(response)
    assert (query["state"], query["iss"]) == ("xyz-state", a1.issuer)


def test_a_wrong_code_verifier_is_invalid_grant(a1: A1, http: httpx.Client) -> None:
    _, code, _ = a1.log_in(http)
    other_verifier, _ = a1.pkce_pair()

    response = a1.exchange(http, code, other_verifier)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_a_code_cannot_be_used_twice(a1: A1, http: httpx.Client) -> None:
    _, code, verifier = a1.log_in(http)
    assert a1.exchange(http, code, verifier).status_code == 200

    again = a1.exchange(http, code, verifier)

    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_a_code_expires_after_60_seconds(a1: A1, http: httpx.Client, clock: MovableClock) -> None:
    _, code, verifier = a1.log_in(http)
    clock.advance(61)

    response = a1.exchange(http, code, verifier)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_the_token_request_must_repeat_the_exact_redirect_uri(a1: A1, http: httpx.Client) -> None:
    _, code, verifier = a1.log_in(http)

    response = a1.exchange(http, code, verifier, redirect_uri=REGISTERED + "/")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(REGISTERED + "/", id="trailing-slash"),
        pytest.param(REGISTERED + "/xyz", id="appended-path"),
        pytest.param("https://student.example.test/call", id="prefix"),
        pytest.param("https://student.example.test/Callback", id="path-case"),
        pytest.param("https://STUDENT.example.test/callback", id="host-case"),
        pytest.param("HTTPS://student.example.test/callback", id="scheme-case"),
        pytest.param("http://student.example.test/callback", id="http-not-https"),
        pytest.param(REGISTERED + "?extra=1", id="extra-query"),
        pytest.param(REGISTERED + "#frag", id="fragment"),
        pytest.param("https://student.example.test:8443/callback", id="port"),
        pytest.param("https://student.example.test@evil.example/callback", id="userinfo"),
        pytest.param("https://student.example.test/%63allback", id="percent-encoded"),
        pytest.param("", id="empty"),
    ],
)
def test_a_redirect_uri_variant_is_an_error_at_a1_without_location(
    a1: A1, http: httpx.Client, variant: str
) -> None:
    _, challenge = a1.pkce_pair()

    response = http.get(
        "/oauth/authorize", params=a1.authorize_params(challenge, redirect_uri=variant)
    )

    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")


def test_the_registered_redirect_uri_gets_the_login_page(a1: A1, http: httpx.Client) -> None:
    _, challenge = a1.pkce_pair()

    response = http.get("/oauth/authorize", params=a1.authorize_params(challenge))

    assert response.status_code == 200
    assert f'<form method="post" action="{a1.issuer}/oauth/authorize">' in response.text
    assert "location" not in response.headers


def test_a_redirect_uri_variant_is_refused_on_the_login_post_too(
    a1: A1, http: httpx.Client
) -> None:
    _, challenge = a1.pkce_pair()
    form = a1.authorize_params(challenge, redirect_uri=REGISTERED + "/evil") | {
        "username": "test_student_e2e_01",
        "password": a1.password,
    }

    response = http.post("/oauth/authorize", data=form)

    assert response.status_code == 400
    assert "location" not in response.headers
    assert "set-cookie" not in response.headers


def test_an_unknown_client_is_an_error_at_a1_without_location(a1: A1, http: httpx.Client) -> None:
    _, challenge = a1.pkce_pair()

    response = http.get("/oauth/authorize", params=a1.authorize_params(challenge, client_id="evil"))

    assert response.status_code == 400
    assert "location" not in response.headers


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"code_challenge_method": "plain"}, id="plain"),
        pytest.param({"code_challenge_method": ""}, id="no-method"),
        pytest.param({"code_challenge": "too-short"}, id="bad-challenge"),
    ],
)
def test_authorization_without_pkce_s256_is_redirected_as_invalid_request(
    a1: A1, http: httpx.Client, overrides: dict[str, str]
) -> None:
    _, challenge = a1.pkce_pair()

    response = http.get("/oauth/authorize", params=a1.authorize_params(challenge, **overrides))

    assert response.status_code == 302
    assert a1.redirect_query(response)["error"] == "invalid_request"


def test_a_wrong_password_shows_the_form_again_with_401_and_no_cookie(
    a1: A1, http: httpx.Client
) -> None:
    _, challenge = a1.pkce_pair()

    response = a1.submit_login(http, a1.authorize_params(challenge), password="wrong")

    assert response.status_code == 401
    assert "location" not in response.headers
    assert response.headers.get_list("set-cookie") == []
    assert '<form method="post"' in response.text


def test_an_unknown_user_is_refused_like_a_wrong_password(a1: A1, http: httpx.Client) -> None:
    _, challenge = a1.pkce_pair()
    form = a1.authorize_params(challenge) | {"username": "nobody", "password": a1.password}

    response = http.post("/oauth/authorize", data=form)

    assert response.status_code == 401
    assert response.headers.get_list("set-cookie") == []


def test_a_live_session_skips_the_login_form(a1: A1, http: httpx.Client) -> None:
    first, _, _ = a1.log_in(http)
    _, challenge = a1.pkce_pair()

    response = http.get(
        "/oauth/authorize",
        params=a1.authorize_params(challenge),
        headers={"Cookie": f"a1_session={a1.session_token(first)}"},
    )

    assert response.status_code == 302
    assert "code" in a1.redirect_query(response)


def test_a_cross_origin_login_post_is_refused(a1: A1, http: httpx.Client) -> None:
    _, challenge = a1.pkce_pair()
    form = a1.authorize_params(challenge) | {
        "username": "test_student_e2e_01",
        "password": a1.password,
    }

    response = http.post("/oauth/authorize", data=form, headers={"Origin": "https://evil.example"})

    assert response.status_code == 403
    assert "location" not in response.headers
