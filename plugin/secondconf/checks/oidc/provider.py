"""OIDC checks on A1 as a provider: what it publishes and how it matches redirect URIs.

- OIDC-34 discovery: ``issuer`` byte-equal to the ``iss`` of a token A1 issues; ``jwks_uri``
  https and reachable; RS256 offered, ``none`` never.
- OIDC-35 JWKS hygiene: unique ``kid``s, no private members, RSA keys of 2048 bits or more.
- OIDC-38 ``redirect_uri`` exact match: the registered URI is accepted and each variant of
  it is refused *at A1* (an error status, no ``Location``).

The authorization request is the browser login's (:mod:`secondconf.target.login`); the
verdict for a map without a browser login (:func:`missing_browser_login`) serves the
cookie checks too. Each ``judge_*`` function is pure (unit-tested with fake answers);
each ``check_*`` function sends the requests and calls the judge. No token value is ever
put in a verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import httpx

from secondconf.contract.catalog import ContractRule, rule_by_id
from secondconf.core.secret import Secret
from secondconf.engine.evidence import RequestRecord
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Verdict
from secondconf.target.identity import TokenError, fetch_token_sync
from secondconf.target.login import authorize_params
from secondconf.target.map import SystemMap
from secondconf.target.oidc_documents import (
    MIN_RSA_BITS,
    TOKEN_SUBJECT,
    b64url_uint,
    error_name,
    get_discovery,
    get_jwks,
)

OIDC_DISCOVERY: Final = rule_by_id("OIDC-34")
OIDC_JWKS: Final = rule_by_id("OIDC-35")
OIDC_REDIRECT: Final = rule_by_id("OIDC-38")

PRIVATE_JWK_MEMBERS: Final = ("d", "p", "q", "dp", "dq", "qi", "k")


# --- OIDC-34 discovery ----------------------------------------------------------------------


def judge_discovery(
    discovery: Mapping[str, Any], *, token_iss: Any, jwks_problem: str | None
) -> Verdict:
    """OIDC-34 from the discovery document, an issued token's ``iss`` and the JWKS fetch."""
    violations: list[str] = []
    issuer = discovery.get("issuer")
    if not isinstance(issuer, str) or not issuer:
        violations.append("discovery names no issuer")
    elif token_iss != issuer:
        violations.append(
            f"issued token's iss {token_iss!r} is not byte-equal to the issuer {issuer!r}"
        )
    jwks_uri = discovery.get("jwks_uri")
    if not isinstance(jwks_uri, str) or urlsplit(jwks_uri).scheme != "https":
        violations.append(f"jwks_uri {jwks_uri!r} is not an https URL")
    if jwks_problem:
        violations.append(jwks_problem)
    algs = discovery.get("id_token_signing_alg_values_supported")
    if not isinstance(algs, list) or "RS256" not in algs:
        violations.append(f"id_token_signing_alg_values_supported {algs!r} does not list RS256")
    for key, value in sorted(discovery.items()):
        listed = value if key.endswith("_alg_values_supported") and isinstance(value, list) else []
        if any(isinstance(a, str) and a.lower() == "none" for a in listed):
            violations.append(f"{key} lists 'none'")
    return rule_verdict(
        OIDC_DISCOVERY,
        "A1",
        cases=5,
        violations=violations,
        details={"issuer": issuer, "jwks_uri": jwks_uri, "algorithms": algs},
    )


def check_discovery(client: httpx.Client, system_map: SystemMap, client_secret: Secret) -> Verdict:
    """OIDC-34 against the target (GET discovery, GET JWKS, one client_credentials token)."""
    discovery, problem = get_discovery(client, system_map)
    if discovery is None:
        return rule_verdict(OIDC_DISCOVERY, "A1", cases=1, violations=[problem])
    try:
        token = fetch_token_sync(client, system_map, client_secret, TOKEN_SUBJECT)
    except TokenError as error:
        return rule_verdict(
            OIDC_DISCOVERY, "A1", cases=0, violations=[], untested=[f"no token: {error}"]
        )
    _, jwks_problem = get_jwks(client, discovery)
    return judge_discovery(discovery, token_iss=token.claims.get("iss"), jwks_problem=jwks_problem)


# --- OIDC-35 JWKS ---------------------------------------------------------------------------


def judge_jwks(jwks: Any) -> Verdict:
    """OIDC-35 on a JWK Set document (one case per key)."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        return rule_verdict(OIDC_JWKS, "A1", cases=1, violations=["the JWKS has no keys array"])
    violations: list[str] = []
    seen: set[str] = set()
    for index, jwk in enumerate(keys):
        if not isinstance(jwk, dict):
            violations.append(f"keys[{index}] is not an object")
            continue
        kid = jwk.get("kid")
        name = f"key {kid!r}" if isinstance(kid, str) else f"keys[{index}]"
        if not isinstance(kid, str) or not kid:
            violations.append(f"{name} has no kid")
        elif kid in seen:
            violations.append(f"kid {kid!r} appears twice")
        else:
            seen.add(kid)
        private = [m for m in PRIVATE_JWK_MEMBERS if m in jwk]
        if private:  # names only: the values are private key material
            violations.append(f"{name} publishes private members {', '.join(private)}")
        if "kty" not in jwk:
            violations.append(f"{name} has no kty")
        if jwk.get("use") != "sig" and "alg" not in jwk:
            violations.append(f"{name} has neither use=sig nor alg")
        if jwk.get("kty") == "RSA":
            modulus = jwk.get("n")
            try:
                bits = b64url_uint(modulus).bit_length() if isinstance(modulus, str) else 0
            except ValueError:
                bits = 0
            if bits < MIN_RSA_BITS:
                violations.append(f"{name} is an RSA key of {bits} bits (< {MIN_RSA_BITS})")
    return rule_verdict(
        OIDC_JWKS, "A1", cases=len(keys), violations=violations, details={"kids": sorted(seen)}
    )


def check_jwks(client: httpx.Client, system_map: SystemMap) -> Verdict:
    """OIDC-35 against the target (GET discovery, GET JWKS)."""
    discovery, problem = get_discovery(client, system_map)
    if discovery is None:
        return rule_verdict(OIDC_JWKS, "A1", cases=0, violations=[], untested=[problem])
    jwks, jwks_problem = get_jwks(client, discovery)
    if jwks is None:
        return rule_verdict(OIDC_JWKS, "A1", cases=1, violations=[str(jwks_problem)])
    return judge_jwks(jwks)


# --- OIDC-38 redirect_uri -------------------------------------------------------------------


def redirect_variants(registered: str) -> list[tuple[str, str]]:
    """(label, URI) near-misses of ``registered`` that an exact match must refuse."""
    parts = urlsplit(registered)
    path = parts.path or "/"
    trimmed = path.rstrip("/")
    prefix_path = trimmed.rsplit("/", 1)[0] if trimmed.count("/") > 1 else trimmed[:-1] or "/"
    query_sep = "&" if parts.query else "?"
    variants = [
        ("appended path", urlunsplit(parts._replace(path=trimmed + "/x"))),
        ("prefix", urlunsplit(parts._replace(path=prefix_path, query=""))),
        ("trailing slash", urlunsplit(parts._replace(path=path + "/"))),
        ("extra query", registered + query_sep + "x=1"),
        ("scheme case", parts.scheme.upper() + registered[len(parts.scheme) :]),
        ("userinfo host", urlunsplit(parts._replace(netloc=f"{parts.netloc}@evil.example"))),
        ("fragment", registered + "#frag"),
    ]
    if parts.netloc.upper() != parts.netloc:
        variants.append(("host case", urlunsplit(parts._replace(netloc=parts.netloc.upper()))))
    if path.upper() != path:
        variants.append(("path case", urlunsplit(parts._replace(path=path.upper()))))
    return [(label, uri) for label, uri in variants if uri != registered]


def judge_registered_answer(status: int, location: str | None, registered: str) -> str | None:
    """Why the registered URI was not accepted, or ``None`` (a login page or a redirect to it)."""
    if status == 200 and location is None:
        return None
    if status in (302, 303) and location is not None and location.startswith(registered):
        return None
    return f"the registered redirect_uri was not accepted (status {status})"


def judge_variant_answer(label: str, status: int, location: str | None) -> str | None:
    """Why A1's answer to a variant is not a refusal at A1, or ``None``."""
    if location is not None:
        return f"{label}: A1 redirected (status {status}) instead of refusing at A1"
    if status < 400:
        return f"{label}: A1 accepted the variant (status {status})"
    return None


def check_redirect_matrix(client: httpx.Client, system_map: SystemMap) -> Verdict:
    """OIDC-38: authorize with the registered URI and each variant (GET, no redirects)."""
    login = system_map.browser_login
    if login is None:
        return missing_browser_login(OIDC_REDIRECT)
    discovery, problem = get_discovery(client, system_map)
    endpoint = discovery.get("authorization_endpoint") if discovery else None
    if not isinstance(endpoint, str):
        reason = problem or "discovery names no authorization_endpoint"
        return rule_verdict(OIDC_REDIRECT, "A1", cases=0, violations=[], untested=[reason])
    client.cookies.clear()  # no session: the answer must not depend on an earlier login
    cases = [("registered", login.redirect_uri), *redirect_variants(login.redirect_uri)]
    violations: list[str] = []
    requests: list[RequestRecord] = []
    for label, uri in cases:
        params = authorize_params(login, uri)
        try:
            answer = client.get(endpoint, params=params)
        except httpx.HTTPError as error:
            violations.append(f"{label}: no answer ({error_name(error)})")
            continue
        location = answer.headers.get("location")
        if label == "registered":
            verdict = judge_registered_answer(answer.status_code, location, uri)
        else:
            verdict = judge_variant_answer(label, answer.status_code, location)
        if verdict:
            violations.append(verdict)
        requests.append(
            RequestRecord(
                "A1",
                "GET",
                urlsplit(endpoint).path,
                f"redirect_uri {label}: {uri}",
                answer.status_code,
                verdict or "ok",
            )
        )
    return rule_verdict(
        OIDC_REDIRECT,
        "A1",
        cases=len(requests),
        violations=violations,
        details={
            "registered": login.redirect_uri,
            "requests": [record.to_dict() for record in requests],
        },
    )


def missing_browser_login(rule: ContractRule) -> Verdict:
    """INCONCLUSIVE: the map does not say how a browser logs in on A1."""
    return rule_verdict(
        rule,
        "A1",
        cases=0,
        violations=[],
        untested=[
            "the system map has no identity.browser_login section (browser client id, "
            "redirect URI, session TTL, cookie domain): see docs/contract.md §2"
        ],
    )
