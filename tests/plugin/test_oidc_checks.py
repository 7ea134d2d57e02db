"""The cookie and OIDC judges on fake answers: each rule PASSes on a good answer and FAILs,
naming the problem, on each bad one; what cannot be judged is INCONCLUSIVE with a reason."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from secondconf.checks.oidc.cookies import drill_cookie_policy, judge_drill, judge_session_cookie
from secondconf.checks.oidc.provider import (
    judge_discovery,
    judge_jwks,
    judge_registered_answer,
    judge_variant_answer,
    missing_browser_login,
    redirect_variants,
)
from secondconf.checks.oidc.tokens import (
    bearer_get_path,
    check_rotation,
    forged_tokens,
    judge_rotation,
    judge_token_answer,
    rsa_public_pem,
)
from secondconf.contract.catalog import rule_by_id
from secondconf.core.secret import Secret
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Outcome, Verdict
from secondconf.target.login import LoginObservation, login_form, parse_set_cookie
from secondconf.target.map import BrowserLogin

LOGIN = BrowserLogin("student-web", "https://a5.example:8443/auth/callback", 3600)
DATE = "Wed, 26 Nov 2026 03:00:00 GMT"
GOOD = (
    "a1_session=opaque; Max-Age=3600; Expires=Wed, 26 Nov 2026 04:00:00 GMT; "
    "Path=/; Secure; HttpOnly; SameSite=None"
)


def observed(*headers: str, date: str | None = DATE) -> LoginObservation:
    return LoginObservation(
        cookies=tuple(parse_set_cookie(h) for h in headers),
        date=date,
        received_at=datetime(2026, 11, 26, 3, 0, 1, tzinfo=UTC),
        status=303,
    )


def by_rule(verdicts: list[Verdict]) -> dict[str, Verdict]:
    return {v.details["rule"]: v for v in verdicts}


# --- cookies --------------------------------------------------------------------------------


def test_parsing_keeps_attributes_and_never_the_value() -> None:
    cookie = parse_set_cookie(GOOD)
    assert (cookie.name, cookie.has_value) == ("a1_session", True)
    assert cookie.attributes["samesite"] == "None"
    assert cookie.attributes["secure"] is None
    assert "opaque" not in repr(cookie)


def test_a_good_cookie_passes_all_three_rules() -> None:
    verdicts = by_rule(judge_session_cookie(observed(GOOD), LOGIN))
    assert {r: v.outcome for r, v in verdicts.items()} == dict.fromkeys(
        ("CK-29", "CK-30", "CK-31"), Outcome.PASS
    )
    assert "opaque" not in json.dumps(verdicts["CK-29"].details)


ATTRIBUTE_FAULTS = {
    "no Secure": (GOOD.replace("; Secure", ""), "a1_session: no Secure"),
    "no HttpOnly": (GOOD.replace("; HttpOnly", ""), "a1_session: no HttpOnly"),
    "SameSite Lax": (GOOD.replace("None", "Lax"), "SameSite=Lax (expected SameSite=None)"),
    "no SameSite": (GOOD.replace("; SameSite=None", ""), "no SameSite"),
    "narrow path": (GOOD.replace("Path=/", "Path=/oauth"), "Path=/oauth (expected /)"),
}


@pytest.mark.parametrize(("header", "problem"), ATTRIBUTE_FAULTS.values(), ids=ATTRIBUTE_FAULTS)
def test_each_missing_attribute_fails_ck29(header: str, problem: str) -> None:
    verdict = by_rule(judge_session_cookie(observed(header), LOGIN))["CK-29"]
    assert verdict.outcome is Outcome.FAIL
    assert any(problem in v for v in verdict.details["violations"]), verdict.details


def test_two_session_cookies_fail_ck29_and_a_cleared_one_does_not_count() -> None:
    other = "csrf=x; Path=/; Secure; HttpOnly; SameSite=None; Max-Age=3600"
    two = by_rule(judge_session_cookie(observed(GOOD, other), LOGIN))["CK-29"]
    assert two.outcome is Outcome.FAIL
    assert "2 session cookies set (expected exactly one)" in two.details["violations"]
    cleared = "old=; Max-Age=0; Path=/"
    assert by_rule(judge_session_cookie(observed(GOOD, cleared), LOGIN))["CK-29"].outcome is (
        Outcome.PASS
    )
    named = replace(LOGIN, cookie_name="a1_session")
    assert by_rule(judge_session_cookie(observed(GOOD, other), named))["CK-29"].outcome is (
        Outcome.PASS
    )


def test_no_session_cookie_fails_ck29_and_leaves_the_others_inconclusive() -> None:
    verdicts = by_rule(judge_session_cookie(observed(), LOGIN))
    assert verdicts["CK-29"].outcome is Outcome.FAIL
    assert verdicts["CK-30"].outcome is Outcome.INCONCLUSIVE
    assert verdicts["CK-31"].details["untested"] == ["the login set no session cookie to judge"]


LIFETIME_FAULTS = {
    "wrong max-age": (GOOD.replace("Max-Age=3600", "Max-Age=7200"), "session TTL is 3600"),
    "no max-age": (GOOD.replace("Max-Age=3600; ", ""), "no Max-Age"),
    "max-age not a number": (GOOD.replace("Max-Age=3600", "Max-Age=1h"), "not an integer"),
    "expires drift": (GOOD.replace("04:00:00", "04:00:30"), "Expires is Date + 3630 s"),
    "expires garbage": (GOOD.replace("Wed, 26 Nov 2026 04:00:00 GMT", "soon"), "not an HTTP date"),
}


@pytest.mark.parametrize(("header", "problem"), LIFETIME_FAULTS.values(), ids=LIFETIME_FAULTS)
def test_each_lifetime_fault_fails_ck30(header: str, problem: str) -> None:
    verdict = by_rule(judge_session_cookie(observed(header), LOGIN))["CK-30"]
    assert verdict.outcome is Outcome.FAIL
    assert any(problem in v for v in verdict.details["violations"]), verdict.details


def test_max_age_over_400_days_fails_ck30_even_when_it_is_the_ttl() -> None:
    long_login = replace(LOGIN, session_ttl_s=40_000_000)
    header = GOOD.replace("Max-Age=3600", "Max-Age=40000000")
    header = header.replace("; Expires=Wed, 26 Nov 2026 04:00:00 GMT", "")
    verdict = by_rule(judge_session_cookie(observed(header), long_login))["CK-30"]
    assert verdict.details["violations"] == [
        "a1_session: Max-Age=40000000 exceeds 400 days (34560000)"
    ]


def test_expires_within_the_skew_passes_and_a_missing_date_uses_the_receipt_time() -> None:
    close = GOOD.replace("04:00:00", "04:00:02")
    assert by_rule(judge_session_cookie(observed(close), LOGIN))["CK-30"].outcome is Outcome.PASS
    assert by_rule(judge_session_cookie(observed(GOOD, date=None), LOGIN))["CK-30"].outcome is (
        Outcome.PASS
    )


def test_domain_must_match_the_configured_one_or_be_absent() -> None:
    with_domain = GOOD + "; Domain=example.com"
    host_only = by_rule(judge_session_cookie(observed(with_domain), LOGIN))["CK-31"]
    assert host_only.details["violations"] == ["a1_session: Domain=example.com, expected none"]
    configured = replace(LOGIN, cookie_domain="example.com")
    ok = judge_session_cookie(observed(GOOD + "; Domain=.Example.com"), configured)
    assert by_rule(ok)["CK-31"].outcome is Outcome.PASS
    missing = by_rule(judge_session_cookie(observed(GOOD), configured))["CK-31"]
    assert missing.details["violations"] == ["a1_session: Domain=None, expected example.com"]


def test_a_failed_login_is_inconclusive_with_its_reason() -> None:
    failed = LoginObservation(status=401, problem="the login did not redirect")
    for verdict in judge_session_cookie(failed, LOGIN):
        assert verdict.outcome is Outcome.INCONCLUSIVE
        assert verdict.details["untested"] == ["the login did not redirect"]


def test_without_browser_login_the_rules_are_inconclusive_with_the_reason() -> None:
    verdict = missing_browser_login(rule_by_id("CK-29"))
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert "identity.browser_login" in verdict.details["untested"][0]


def test_the_login_form_is_read_generically() -> None:
    page = """<form method="get" action="/search"><input name="q"></form>
    <form method="post" action="/login"><input type="hidden" name="state" value="s1">
    <input name="user"><input name="pw" type="password"></form>"""
    form = login_form(page, replace(LOGIN, username_field="user", password_field="pw"))
    assert form is not None
    assert (form.action, form.method, form.hidden) == ("/login", "post", {"state": "s1"})
    assert login_form(page, LOGIN) is None


def _rule(outcome: Outcome, violations: tuple[str, ...] = ()) -> Verdict:
    cases = 0 if outcome is Outcome.INCONCLUSIVE else 1
    return rule_verdict(rule_by_id("CK-29"), "A1", cases=cases, violations=violations)


def test_the_drill_passes_only_when_the_fault_is_caught_and_the_restore_is_clean() -> None:
    caught = _rule(Outcome.FAIL, ("a1_session: no Secure",))
    passed = judge_drill(_rule(Outcome.PASS), caught, _rule(Outcome.PASS))
    assert passed.outcome is Outcome.PASS
    assert passed.details["caught"] == ["a1_session: no Secure"]
    missed = judge_drill(_rule(Outcome.PASS), _rule(Outcome.PASS), _rule(Outcome.PASS))
    assert missed.outcome is Outcome.FAIL
    assert missed.details["violations"] == [
        "CK-29 was PASS, expected FAIL, with 'cookie_attributes'"
    ]
    stuck = judge_drill(_rule(Outcome.PASS), caught, caught)
    assert (
        "after restoring 'cookie_attributes' (a1_session: no Secure)"
        in (stuck.details["violations"][0])
    )


# --- discovery and JWKS ---------------------------------------------------------------------

ISSUER = "https://a1.example"
DISCOVERY = {
    "issuer": ISSUER,
    "jwks_uri": f"{ISSUER}/jwks.json",
    "id_token_signing_alg_values_supported": ["RS256"],
    "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
}


def test_a_consistent_discovery_passes() -> None:
    assert judge_discovery(DISCOVERY, token_iss=ISSUER, jwks_problem=None).outcome is Outcome.PASS


DISCOVERY_FAULTS: dict[str, tuple[dict[str, Any], Any, str | None, str]] = {
    "trailing slash drift": ({}, ISSUER + "/", None, "not byte-equal to the issuer"),
    "jwks over http": ({"jwks_uri": "http://a1.example/jwks"}, ISSUER, None, "is not an https"),
    "jwks unreachable": ({}, ISSUER, "jwks_uri answered 404", "jwks_uri answered 404"),
    "no RS256": (
        {"id_token_signing_alg_values_supported": ["ES256"]},
        ISSUER,
        None,
        "does not list RS256",
    ),
    "none offered": (
        {"token_endpoint_auth_signing_alg_values_supported": ["RS256", "none"]},
        ISSUER,
        None,
        "token_endpoint_auth_signing_alg_values_supported lists 'none'",
    ),
    "no issuer": ({"issuer": None}, ISSUER, None, "discovery names no issuer"),
}


@pytest.mark.parametrize(
    ("changes", "iss", "jwks_problem", "problem"), DISCOVERY_FAULTS.values(), ids=DISCOVERY_FAULTS
)
def test_each_discovery_fault_fails_oidc34(
    changes: dict[str, Any], iss: Any, jwks_problem: str | None, problem: str
) -> None:
    verdict = judge_discovery(DISCOVERY | changes, token_iss=iss, jwks_problem=jwks_problem)
    assert verdict.outcome is Outcome.FAIL
    assert any(problem in v for v in verdict.details["violations"]), verdict.details


def _jwk(kid: str, bits: int = 2048) -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    numbers = key.public_key().public_numbers()

    def b64(value: int) -> str:
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": b64(numbers.n),
            "e": b64(numbers.e)}  # fmt: skip


@pytest.fixture(scope="module")
def jwk() -> dict[str, Any]:
    return _jwk("k1")


def test_a_clean_jwks_passes(jwk: dict[str, Any]) -> None:
    verdict = judge_jwks({"keys": [jwk, _jwk("k2")]})
    assert (verdict.outcome, verdict.n, verdict.details["kids"]) == (
        Outcome.PASS,
        2,
        ["k1", "k2"],
    )


def test_jwks_faults_fail_oidc35_naming_the_key_but_no_private_value(jwk: dict[str, Any]) -> None:
    leaked = jwk | {"d": "PRIVATE-VALUE", "qi": "ALSO-PRIVATE"}
    weak = _jwk("weak", bits=1024)
    bare = {k: v for k, v in jwk.items() if k not in ("use", "alg", "kid")}
    verdict = judge_jwks({"keys": [leaked, jwk, weak, bare]})
    assert verdict.outcome is Outcome.FAIL
    assert verdict.details["violations"] == [
        "key 'k1' publishes private members d, qi",
        "kid 'k1' appears twice",
        "key 'weak' is an RSA key of 1024 bits (< 2048)",
        "keys[3] has no kid",
        "keys[3] has neither use=sig nor alg",
    ]
    assert "PRIVATE" not in json.dumps(verdict.details)
    assert judge_jwks({"keys": []}).outcome is Outcome.FAIL


# --- redirect_uri ---------------------------------------------------------------------------


def test_redirect_variants_are_near_misses_of_the_registered_uri() -> None:
    variants = dict(redirect_variants("https://a5.example:8443/auth/callback"))
    assert variants == {
        "appended path": "https://a5.example:8443/auth/callback/x",
        "prefix": "https://a5.example:8443/auth",
        "trailing slash": "https://a5.example:8443/auth/callback/",
        "extra query": "https://a5.example:8443/auth/callback?x=1",
        "scheme case": "HTTPS://a5.example:8443/auth/callback",
        "userinfo host": "https://a5.example:8443@evil.example/auth/callback",
        "fragment": "https://a5.example:8443/auth/callback#frag",
        "host case": "https://A5.EXAMPLE:8443/auth/callback",
        "path case": "https://a5.example:8443/AUTH/CALLBACK",
    }
    ip_only = dict(redirect_variants("https://127.0.0.1:9/cb?a=1"))
    assert "host case" not in ip_only
    assert ip_only["extra query"] == "https://127.0.0.1:9/cb?a=1&x=1"
    assert ip_only["prefix"] == "https://127.0.0.1:9/c"


def test_a_variant_must_be_an_error_at_a1_without_location() -> None:
    assert judge_variant_answer("prefix", 400, None) is None
    assert judge_variant_answer("prefix", 200, None) == (
        "prefix: A1 accepted the variant (status 200)"
    )
    assert judge_variant_answer("fragment", 302, "https://evil/cb?error=x") == (
        "fragment: A1 redirected (status 302) instead of refusing at A1"
    )
    assert judge_variant_answer("fragment", 400, "https://evil/") is not None


def test_the_registered_uri_must_be_accepted() -> None:
    uri = LOGIN.redirect_uri
    assert judge_registered_answer(200, None, uri) is None
    assert judge_registered_answer(302, uri + "?code=c", uri) is None
    assert judge_registered_answer(400, None, uri) == (
        "the registered redirect_uri was not accepted (status 400)"
    )


# --- tokens and rotation --------------------------------------------------------------------


def test_a_bearer_get_without_path_parameters_is_preferred() -> None:
    document = {
        "paths": {
            "/v1/a/{id}": {"get": {"security": [{"bearerAuth": []}]}},
            "/v1/public": {"get": {}},
            "/v1/z": {"get": {"security": [{"bearerAuth": []}]}, "post": {}},
        }
    }
    assert bearer_get_path(document) == ("/v1/z", False)
    del document["paths"]["/v1/z"]
    assert bearer_get_path(document) == ("/v1/a/00000000-0000-4000-8000-000000000000", True)
    assert bearer_get_path({"paths": {"/p": {"get": {}}}}) is None
    assert bearer_get_path({"security": [{"b": []}], "paths": {"/p": {"get": {}}}}) == (
        "/p",
        False,
    )
    assert bearer_get_path("not a document") is None


def test_forged_tokens_fool_no_rs256_verifier(jwk: dict[str, Any]) -> None:
    claims = {"iss": ISSUER, "sub": "s", "tid": "t", "aud": "reftarget", "exp": 4102444800}
    forged = forged_tokens(claims, jwk)
    assert set(forged) == {
        "alg none",
        "HS256 keyed with the RSA public key",
        "RS256 signed by a key not in the JWKS",
    }
    for label, token in forged.items():
        assert jwt.get_unverified_header(token)["kid"] == "k1", label
        assert jwt.decode(token, options={"verify_signature": False}) == claims
        with pytest.raises(jwt.InvalidTokenError):
            jwt.decode(token, rsa_public_pem(jwk), algorithms=["RS256"], audience="reftarget")
    hs = forged["HS256 keyed with the RSA public key"]
    # A verifier that trusts the header's alg with the PEM as an HMAC secret would accept it.
    header, payload, signature = hs.split(".")
    mac = hmac.new(rsa_public_pem(jwk), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64encode(mac).rstrip(b"=").decode() == signature


def test_token_answers_are_judged_by_status() -> None:
    assert judge_token_answer("A2", "alg none", 401, valid=False) is None
    assert judge_token_answer("A2", "alg none", 200, valid=False) == (
        "A2: alg none answered 200, not 401"
    )
    assert judge_token_answer("A2", "alg none", 403, valid=False) is not None
    assert judge_token_answer("A2", "valid", 404, valid=True) is None
    assert judge_token_answer("A2", "valid", 401, valid=True) == (
        "A2: the valid token was not accepted (status 401)"
    )


def test_rotation_fails_for_each_app_that_refuses_the_new_key() -> None:
    before = {"A1": 200, "A2": 404, "A3": 200}
    assert judge_rotation(before, before, new_kid_used=True) == []
    violations = judge_rotation(before, {"A1": 200, "A2": 401, "A3": "ConnectError"},
                                new_kid_used=False)  # fmt: skip
    assert violations[0] == "A1 did not sign the next token with the rotated key"
    assert [v.split(":")[0] for v in violations[1:]] == ["A2", "A3"]
    assert "jwks_refetch" in violations[1]
    refused_before = judge_rotation({"A4": 401}, {"A4": 200}, new_kid_used=True)
    assert refused_before == ["A4: refused the pre-rotation token (401)"]


def test_without_fault_control_the_rotation_and_the_drill_are_inconclusive_saying_why() -> None:
    """``fault_control`` is None where the target offers no control or staging holds no
    inject_503 approval: nothing is sent, and the verdict says which."""
    offline: Any = None  # neither check may touch the client or the map
    client_secret = Secret("OIDC_CLIENT_SECRET", "s" * 32)
    verdicts = [
        check_rotation(offline, offline, client_secret, None),
        drill_cookie_policy(offline, offline, None, None),
    ]
    assert [v.details["rule"] for v in verdicts] == ["OIDC-37", "CK-29-DRILL"]
    for verdict in verdicts:
        assert verdict.outcome is Outcome.INCONCLUSIVE
        [why] = verdict.details["untested"]
        assert "the target offers none, or staging has no inject_503 approval" in why
