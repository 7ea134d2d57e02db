"""client_credentials for the QA harness (contract §2a): who the token speaks for."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import jwt
import pytest

if TYPE_CHECKING:
    from tests.ecosystem.identity.a1_server import A1


def claims_of(token: str) -> dict[str, object]:
    return jwt.decode(token, options={"verify_signature": False})


def test_without_subject_the_client_acts_as_itself_in_the_b2c_qa_tenant(
    a1: A1, http: httpx.Client
) -> None:
    claims = claims_of(a1.qa_token(http))

    assert (claims["sub"], claims["tid"]) == ("qa-harness", "tenant_qa_b2c")


@pytest.mark.parametrize(
    ("subject", "tenant"),
    [("test_student_e2e_01", "tenant_qa_b2c"), ("test_provider_e2e_01", "tenant_qa_b2b")],
)
def test_a_synthetic_subject_gets_its_own_tenant(
    a1: A1, http: httpx.Client, subject: str, tenant: str
) -> None:
    claims = claims_of(a1.qa_token(http, subject=subject))

    assert (claims["sub"], claims["tid"]) == (subject, tenant)


def test_token_carries_the_fixed_claims_and_kid(a1: A1, http: httpx.Client) -> None:
    response = a1.qa_token_response(http)
    token = response.json()["access_token"]

    claims = claims_of(token)
    assert set(claims) == {"iss", "sub", "tid", "aud", "iat", "exp", "scope"}
    assert claims["aud"] == "reftarget"
    assert claims["exp"] == claims["iat"] + a1.token_ttl_s  # type: ignore[operator]
    assert jwt.get_unverified_header(token)["kid"] == a1.provider.keys.current().kid
    assert response.json()["token_type"] == "Bearer"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("subject", ["alice", "test_student_e2e_02", "qa-harness", ""])
def test_a_non_synthetic_subject_is_refused(a1: A1, http: httpx.Client, subject: str) -> None:
    response = a1.qa_token_response(http, subject=subject)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_a_wrong_secret_is_401_invalid_client(http: httpx.Client) -> None:
    response = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("qa-harness", "not-the-secret"),
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "error_description" in response.json()
    assert response.headers["cache-control"] == "no-store"


def test_client_secret_post_is_accepted(a1: A1, http: httpx.Client) -> None:
    response = http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "qa-harness",
            "client_secret": a1.qa_secret,
        },
    )

    assert response.status_code == 200
    assert claims_of(response.json()["access_token"])["sub"] == "qa-harness"


def test_two_client_authentication_methods_at_once_are_refused(a1: A1, http: httpx.Client) -> None:
    response = a1.qa_token_response(http, client_secret=a1.qa_secret)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_the_public_browser_client_may_not_use_client_credentials(http: httpx.Client) -> None:
    response = http.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": "student-web"}
    )

    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"


def test_a_repeated_parameter_is_invalid_request(a1: A1, http: httpx.Client) -> None:
    response = http.post(
        "/oauth/token",
        content="grant_type=client_credentials&subject=test_student_e2e_01&subject=alice",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=("qa-harness", a1.qa_secret),
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_an_unknown_grant_type_is_unsupported_grant_type(a1: A1, http: httpx.Client) -> None:
    response = http.post(
        "/oauth/token", data={"grant_type": "password"}, auth=("qa-harness", a1.qa_secret)
    )

    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


@pytest.mark.parametrize("scope", ["admin", "openid"])
def test_a_scope_outside_the_api_scope_is_invalid_scope(
    a1: A1, http: httpx.Client, scope: str
) -> None:
    response = a1.qa_token_response(http, scope=scope)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
