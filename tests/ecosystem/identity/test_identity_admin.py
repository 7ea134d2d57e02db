"""Key administration over HTTP: rotate and retire, behind the admin token."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import jwt
import pytest

if TYPE_CHECKING:
    from tests.ecosystem.identity.a1_server import A1


def published_kids(http: httpx.Client) -> list[str]:
    return [jwk["kid"] for jwk in http.get("/jwks.json").json()["keys"]]


def test_rotate_without_the_admin_token_is_401(http: httpx.Client) -> None:
    response = http.post("/_admin/keys/rotate", headers={"Authorization": "Bearer guess"})

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def test_rotate_publishes_a_new_kid_that_signs_new_tokens_and_keeps_the_old(
    a1: A1, http: httpx.Client
) -> None:
    old_kid = a1.provider.keys.current().kid

    new_kid = http.post("/_admin/keys/rotate", headers=a1.admin_headers).json()["kid"]

    assert new_kid != old_kid
    assert {old_kid, new_kid} <= set(published_kids(http))
    assert jwt.get_unverified_header(a1.qa_token(http))["kid"] == new_kid


def test_retire_unpublishes_an_old_key(a1: A1, http: httpx.Client) -> None:
    old_kid = a1.provider.keys.current().kid
    http.post("/_admin/keys/rotate", headers=a1.admin_headers)

    response = http.post("/_admin/keys/retire", json={"kid": old_kid}, headers=a1.admin_headers)

    assert response.status_code == 200
    assert old_kid not in published_kids(http)


def test_the_signing_key_cannot_be_retired(a1: A1, http: httpx.Client) -> None:
    kid = a1.provider.keys.current().kid

    response = http.post("/_admin/keys/retire", json={"kid": kid}, headers=a1.admin_headers)

    assert response.status_code == 409
    assert kid in published_kids(http)


def test_retiring_an_unknown_kid_is_404(a1: A1, http: httpx.Client) -> None:
    response = http.post("/_admin/keys/retire", json={"kid": "nope"}, headers=a1.admin_headers)

    assert response.status_code == 404


@pytest.mark.parametrize("body", [b"not json", b'["kid"]', b'{"kid": 3}', b'{"subject": 3}'])
@pytest.mark.parametrize("route", ["/_admin/keys/retire", "/_admin/parental-consents"])
def test_an_admin_body_without_its_string_is_400(
    a1: A1, http: httpx.Client, route: str, body: bytes
) -> None:
    response = http.post(route, content=body, headers=a1.admin_headers)

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
