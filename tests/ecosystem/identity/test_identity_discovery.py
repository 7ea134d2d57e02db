"""Discovery and JWKS: what every relying party reads before trusting A1 (OIDC-34, OIDC-35)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import jwt

if TYPE_CHECKING:
    from tests.ecosystem.identity.a1_server import A1

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}


def test_discovery_names_every_endpoint_under_the_issuer(a1: A1, http: httpx.Client) -> None:
    doc = http.get("/.well-known/openid-configuration").json()

    assert doc["issuer"] == a1.issuer
    assert doc["authorization_endpoint"] == f"{a1.issuer}/oauth/authorize"
    assert doc["token_endpoint"] == f"{a1.issuer}/oauth/token"
    assert doc["userinfo_endpoint"] == f"{a1.issuer}/userinfo"
    assert doc["jwks_uri"] == f"{a1.issuer}/jwks.json"


def test_discovery_advertises_code_flow_pkce_s256_and_rs256_only(http: httpx.Client) -> None:
    doc = http.get("/.well-known/openid-configuration").json()

    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["subject_types_supported"] == ["public"]
    assert set(doc["grant_types_supported"]) == {"authorization_code", "client_credentials"}
    assert set(doc["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }
    assert set(doc["scopes_supported"]) >= {"openid"}


def test_token_iss_is_byte_equal_to_the_discovery_issuer(a1: A1, http: httpx.Client) -> None:
    issuer = http.get("/.well-known/openid-configuration").json()["issuer"]

    claims = jwt.decode(a1.qa_token(http), options={"verify_signature": False})

    assert claims["iss"] == issuer


def test_jwks_publishes_no_private_members(http: httpx.Client) -> None:
    keys = http.get("/jwks.json").json()["keys"]

    assert keys
    for jwk in keys:
        assert not PRIVATE_MEMBERS & jwk.keys()
        assert set(jwk) == {"kty", "kid", "use", "alg", "n", "e"}
        assert (jwk["kty"], jwk["use"], jwk["alg"]) == ("RSA", "sig", "RS256")


def test_jwks_kids_are_unique_and_keys_are_2048_bit_rsa(a1: A1, http: httpx.Client) -> None:
    http.post("/_admin/keys/rotate", headers=a1.admin_headers)
    keys = http.get("/jwks.json").json()["keys"]

    kids = [jwk["kid"] for jwk in keys]
    assert len(kids) >= 2
    assert len(set(kids)) == len(kids)
    for jwk in keys:
        assert jwt.PyJWK(jwk).key.key_size == 2048
