"""TokenVerifier as a relying app uses it: over HTTPS against A1's JWKS (OIDC-36, OIDC-37)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from reftarget.identity import InvalidToken, TokenVerifier

if TYPE_CHECKING:
    from tests.ecosystem.identity.a1_server import A1, MovableClock

COOLDOWN_S = 10.0


def verifier_for(a1: A1, clock: MovableClock, jwks_path: str = "/jwks.json") -> TokenVerifier:
    return TokenVerifier(
        a1.issuer,
        a1.issuer + jwks_path,
        verify=a1.ca_file,
        clock=clock,
        refetch_cooldown_s=COOLDOWN_S,
    )


def claims(a1: A1, **overrides: Any) -> dict[str, Any]:
    now = int(a1.clock.time())
    base = {
        "iss": a1.issuer,
        "sub": "test_student_e2e_01",
        "tid": "tenant_qa_b2c",
        "aud": "reftarget",
        "iat": now,
        "exp": now + a1.token_ttl_s,
        "scope": "reftarget",
    }
    return {k: v for k, v in (base | overrides).items() if v is not None}


def signed(a1: A1, payload: dict[str, Any], algorithm: str = "RS256") -> str:
    key = a1.provider.keys.current()
    return jwt.encode(payload, key.private_key, algorithm=algorithm, headers={"kid": key.kid})


def unsigned_token(header: dict[str, Any], payload: dict[str, Any], signature: bytes) -> str:
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64(signature)}"


async def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        await verifier.verify(token)
    return caught.value.reason


@pytest.mark.asyncio
async def test_a_valid_token_is_accepted(a1: A1, verifier_clock: MovableClock) -> None:
    token = a1.provider.issue_token("test_provider_e2e_01", "tenant_qa_b2b", "reftarget")

    result = await verifier_for(a1, verifier_clock).verify(token)

    assert (result.sub, result.tid, result.scope) == (
        "test_provider_e2e_01",
        "tenant_qa_b2b",
        "reftarget",
    )


@pytest.mark.asyncio
async def test_a_rotated_key_is_trusted_without_restart_after_one_refetch(
    a1: A1, http: httpx.Client, verifier_clock: MovableClock
) -> None:
    verifier = verifier_for(a1, verifier_clock)
    old_token = a1.qa_token(http)
    await verifier.verify(old_token)
    fetches = a1.jwks_requests.count

    http.post("/_admin/keys/rotate", headers=a1.admin_headers).raise_for_status()
    verifier_clock.advance(COOLDOWN_S)
    new_result = await verifier.verify(a1.qa_token(http))
    await verifier.verify(old_token)

    assert new_result.sub == "qa-harness"
    assert a1.jwks_requests.count == fetches + 1


@pytest.mark.asyncio
async def test_unknown_kids_cost_at_most_one_refetch_per_cooldown(
    a1: A1, verifier_clock: MovableClock
) -> None:
    verifier = verifier_for(a1, verifier_clock)
    await verifier.verify(signed(a1, claims(a1)))
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def bogus(i: int) -> str:
        return jwt.encode(claims(a1), stranger, algorithm="RS256", headers={"kid": f"bogus-{i}"})

    start = a1.jwks_requests.count
    first_flood = [await refused(verifier, bogus(i)) for i in range(20)]
    after_first_flood = a1.jwks_requests.count
    verifier_clock.advance(COOLDOWN_S)
    second_flood = await asyncio.gather(*(refused(verifier, bogus(i)) for i in range(20)))

    assert set(first_flood) == set(second_flood) == {"unknown_kid"}
    assert after_first_flood == start
    assert a1.jwks_requests.count == start + 1


@pytest.mark.asyncio
async def test_alg_none_is_refused_without_fetching_keys(
    a1: A1, verifier_clock: MovableClock
) -> None:
    kid = a1.provider.keys.current().kid
    token = unsigned_token({"alg": "none", "typ": "JWT", "kid": kid}, claims(a1), b"")
    start = a1.jwks_requests.count

    assert await refused(verifier_for(a1, verifier_clock), token) == "alg_not_allowed"
    assert a1.jwks_requests.count == start


@pytest.mark.asyncio
async def test_hs256_keyed_with_the_public_key_is_refused(
    a1: A1, verifier_clock: MovableClock
) -> None:
    key = a1.provider.keys.current()
    public_pem = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": key.kid}
    unsigned = unsigned_token(header, claims(a1), b"").rsplit(".", 1)[0]
    mac = hmac.new(public_pem, unsigned.encode(), hashlib.sha256).digest()
    token = unsigned_token(header, claims(a1), mac)

    assert await refused(verifier_for(a1, verifier_clock), token) == "alg_not_allowed"


@pytest.mark.asyncio
async def test_rs384_is_refused(a1: A1, verifier_clock: MovableClock) -> None:
    token = signed(a1, claims(a1), algorithm="RS384")

    assert await refused(verifier_for(a1, verifier_clock), token) == "alg_not_allowed"


@pytest.mark.asyncio
async def test_a_tampered_payload_is_refused(a1: A1, verifier_clock: MovableClock) -> None:
    header, _, signature = signed(a1, claims(a1)).split(".")
    forged = unsigned_token({}, claims(a1, tid="tenant_other"), b"").split(".")[1]

    token = f"{header}.{forged}.{signature}"

    assert await refused(verifier_for(a1, verifier_clock), token) == "bad_signature"


@pytest.mark.asyncio
async def test_a_wrong_audience_is_refused(a1: A1, verifier_clock: MovableClock) -> None:
    token = signed(a1, claims(a1, aud="student-web"))

    assert await refused(verifier_for(a1, verifier_clock), token) == "wrong_audience"


@pytest.mark.asyncio
async def test_an_issuer_with_a_trailing_slash_is_refused(
    a1: A1, verifier_clock: MovableClock
) -> None:
    token = signed(a1, claims(a1, iss=a1.issuer + "/"))

    assert await refused(verifier_for(a1, verifier_clock), token) == "wrong_issuer"


@pytest.mark.asyncio
async def test_an_expired_token_is_refused(a1: A1, verifier_clock: MovableClock) -> None:
    token = a1.provider.issue_token("test_student_e2e_01", "tenant_qa_b2c", "reftarget")
    verifier = verifier_for(a1, verifier_clock)
    await verifier.verify(token)

    verifier_clock.advance(a1.token_ttl_s)

    assert await refused(verifier, token) == "expired"


@pytest.mark.asyncio
async def test_a_token_without_tid_is_refused(a1: A1, verifier_clock: MovableClock) -> None:
    token = signed(a1, claims(a1, tid=None))

    assert await refused(verifier_for(a1, verifier_clock), token) == "missing_claim:tid"


@pytest.mark.asyncio
async def test_a_retired_key_stops_verifying_once_the_cached_set_ages_out(
    a1: A1, http: httpx.Client, verifier_clock: MovableClock
) -> None:
    verifier = verifier_for(a1, verifier_clock)
    old_token = a1.qa_token(http)
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    await verifier.verify(old_token)
    http.post("/_admin/keys/rotate", headers=a1.admin_headers).raise_for_status()
    retire = http.post("/_admin/keys/retire", json={"kid": old_kid}, headers=a1.admin_headers)
    retire.raise_for_status()

    verifier_clock.advance(300)

    assert await refused(verifier, old_token) == "unknown_kid"


@pytest.mark.asyncio
async def test_an_unreachable_jwks_is_jwks_unavailable(
    a1: A1, verifier_clock: MovableClock
) -> None:
    token = a1.provider.issue_token("test_student_e2e_01", "tenant_qa_b2c", "reftarget")

    assert await refused(verifier_for(a1, verifier_clock, "/no-such-jwks"), token) == (
        "jwks_unavailable"
    )
