"""Tokens across the apps: tenant from ``tid``, key rotation picked up without restart."""

from __future__ import annotations

from functools import partial

import jwt
import pytest

from tests.ecosystem.apps.target import PROTECTED_READS, PROVIDER, Target, eventually

# Relying apps refetch the JWKS on an unknown kid at most once per 10 s cooldown.
ROTATION_WAIT_S = 12.0


def rotate_signing_key(target: Target) -> str:
    answer = target.http.post(target.url("A1", "/_admin/keys/rotate"), headers=target.admin())
    answer.raise_for_status()
    new_kid = answer.json().get("kid")
    token = target.new_token()
    assert jwt.get_unverified_header(token)["kid"] == new_kid
    return token


def accepted(target: Target, app_id: str, token: str) -> bool:
    response = target.get(app_id, PROTECTED_READS[app_id], {"Authorization": f"Bearer {token}"})
    return response.status_code != 401


def test_a_token_that_was_tampered_with_is_401_everywhere(target: Target) -> None:
    header, payload, signature = target.token().split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    for app_id in PROTECTED_READS:
        assert not accepted(target, app_id, forged), app_id


def test_the_tenant_is_the_tokens_tid(target: Target) -> None:
    student = target.get("A5", "/v1/credits", target.auth())
    provider = target.get("A6", "/v1/providers/me", target.auth(PROVIDER))
    assert student.status_code in (200, 404)
    if student.status_code == 200:
        assert student.json()["tenant_id"] == "tenant_qa_b2c"
    assert provider.status_code in (200, 404)


@pytest.mark.exclusive
def test_a_rotated_key_is_accepted_without_restart_unless_jwks_refetch_is_off(
    target: Target,
) -> None:
    # One rotation for both halves: a second one within the cooldown would only wait.
    with target.faults("A4", disabled_rules=["jwks_refetch"]):
        assert accepted(target, "A4", target.token()), "the frozen JWKS still has today's key"
        token = rotate_signing_key(target)
        for app_id in sorted(set(PROTECTED_READS) - {"A4"}):
            assert eventually(partial(accepted, target, app_id, token), ROTATION_WAIT_S), app_id
        assert not accepted(target, "A4", token)
    assert eventually(lambda: accepted(target, "A4", token), ROTATION_WAIT_S)
