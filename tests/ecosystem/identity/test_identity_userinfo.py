"""Userinfo: who a bearer token speaks for, checked against A1's own keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from tests.ecosystem.identity.a1_server import A1, MovableClock


def test_userinfo_returns_sub_and_tid_of_a_valid_token(a1: A1, http: httpx.Client) -> None:
    token = a1.qa_token(http, subject="test_provider_e2e_01")

    response = http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200
    assert response.json() == {"sub": "test_provider_e2e_01", "tid": "tenant_qa_b2b"}


def test_userinfo_without_a_token_is_401_with_a_bearer_challenge(http: httpx.Client) -> None:
    response = http.get("/userinfo")

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_userinfo_with_an_expired_token_is_401_invalid_token(
    a1: A1, http: httpx.Client, clock: MovableClock
) -> None:
    token = a1.qa_token(http)
    clock.advance(a1.token_ttl_s)

    response = http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
