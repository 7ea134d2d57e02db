"""OIDC checks on A1 and on every app that takes A1's tokens (OIDC-34 … OIDC-38).

- OIDC-34 discovery: ``issuer`` byte-equal to the ``iss`` of a token A1 issues; ``jwks_uri``
  https and reachable; RS256 offered, ``none`` never.
- OIDC-35 JWKS hygiene: unique ``kid``s, no private members, RSA keys of 2048 bits or more.
- OIDC-36 forged tokens: ``alg: none``, HS256 keyed with A1's public key (algorithm
  confusion) and RS256 signed by a foreign key are refused (401) by A1's userinfo and by a
  bearer-protected GET of every other app; the valid token is accepted there (positive
  control). The foreign-key token carries a *published* kid: a verifier that trusts the kid
  must still check the signature, and an unknown kid would make every app refetch A1's JWKS
  and start its refetch cooldown, delaying a rotation check run right after.
- OIDC-37 rotation: A1 rotates its signing key (target control); a token with the new kid
  is accepted everywhere without a restart (polled up to a deadline longer than a relying
  app's refetch cooldown).
- OIDC-38 ``redirect_uri`` exact match: the registered URI is accepted and each variant of
  it is refused *at A1* (an error status, no ``Location``).

Each ``judge_*`` function is pure (unit-tested with fake answers); each ``check_*`` function
sends the requests and calls the judge. No token value is ever put in a verdict.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from secondconf.clock import Clock, SystemClock
from secondconf.rules import ContractRule, rule_verdict
from secondconf.systemmap import OPENAPI_PATH, BrowserLogin, SystemMap
from secondconf.target_control import ControlError, TargetControl
from secondconf.tokens import TokenError, discovery_url, fetch_token_sync
from secondconf.verdict import Verdict

OIDC_DISCOVERY: Final = ContractRule(
    "OIDC-34",
    "Discovery: issuer equals the tokens' iss, jwks_uri https, RS256 and never none",
    "§2a",
)
OIDC_JWKS: Final = ContractRule(
    "OIDC-35", "JWKS hygiene: unique kids, public members only, RSA of 2048 bits or more", "§2a"
)
OIDC_FORGED: Final = ContractRule(
    "OIDC-36", "Forged tokens (alg none, HS256 with the public key, a foreign key) refused", "§2a"
)
OIDC_ROTATION: Final = ContractRule(
    "OIDC-37", "A token signed with a rotated key is accepted by every app without a restart", "§2a"
)
OIDC_REDIRECT: Final = ContractRule(
    "OIDC-38", "redirect_uri matched exactly: every variant refused at A1", "§2a"
)

SUBJECT: Final = "test_student_e2e_01"
PRIVATE_JWK_MEMBERS: Final = ("d", "p", "q", "dp", "dq", "qi", "k")
MIN_RSA_BITS: Final = 2048
ROTATION_DEADLINE_S: Final = 15.0  # longer than a relying app's JWKS refetch cooldown
_POLL_INTERVAL_S: Final = 0.5
_PLACEHOLDER_ID: Final = "00000000-0000-4000-8000-000000000000"
_REFUSED_AUTH: Final = frozenset({401, 403})

Request = dict[str, Any]


# --- helpers --------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_uint(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_name(error: Exception) -> str:
    return type(error).__name__


def get_json_object(client: httpx.Client, url: str, what: str) -> tuple[dict[str, Any] | None, str]:
    """GET ``url`` for a JSON object, or ``None`` and why not (``what`` names it)."""
    try:
        response = client.get(url)
    except httpx.HTTPError as error:
        return None, f"{what} {url} unreachable ({_error_name(error)})"
    body = _json_or_none(response)
    if response.status_code != 200 or not isinstance(body, dict):
        return None, f"{what} {url} answered {response.status_code} without a JSON object"
    return body, ""


def get_discovery(client: httpx.Client, system_map: SystemMap) -> tuple[dict[str, Any] | None, str]:
    """A1's discovery document, or ``None`` and why not."""
    return get_json_object(client, discovery_url(system_map), "discovery")


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge) as RFC 7636 §4 builds them."""
    verifier = secrets.token_urlsafe(48)
    return verifier, _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def authorize_params(login: BrowserLogin, redirect_uri: str) -> dict[str, str]:
    """An authorization-code + PKCE request for the browser client (fresh state/challenge)."""
    _, challenge = pkce_pair()
    return {
        "response_type": "code",
        "client_id": login.client_id,
        "redirect_uri": redirect_uri,
        "scope": "openid",
        "state": secrets.token_urlsafe(16),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }


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


def check_discovery(client: httpx.Client, system_map: SystemMap, client_secret: str) -> Verdict:
    """OIDC-34 against the target (GET discovery, GET JWKS, one client_credentials token)."""
    discovery, problem = get_discovery(client, system_map)
    if discovery is None:
        return rule_verdict(OIDC_DISCOVERY, "A1", cases=1, violations=[problem])
    try:
        token = fetch_token_sync(client, system_map, client_secret, SUBJECT)
    except TokenError as error:
        return rule_verdict(
            OIDC_DISCOVERY, "A1", cases=0, violations=[], untested=[f"no token: {error}"]
        )
    _, jwks_problem = get_jwks(client, discovery)
    return judge_discovery(discovery, token_iss=token.claims.get("iss"), jwks_problem=jwks_problem)


# --- OIDC-35 JWKS ---------------------------------------------------------------------------


def get_jwks(client: httpx.Client, discovery: Mapping[str, Any]) -> tuple[Any, str | None]:
    """The JWK Set at ``jwks_uri``, or ``None`` and why it is not reachable."""
    uri = discovery.get("jwks_uri")
    if not isinstance(uri, str):
        return None, "discovery names no jwks_uri"
    jwks, problem = get_json_object(client, uri, "jwks_uri")
    return jwks, problem or None


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
                bits = _b64url_uint(modulus).bit_length() if isinstance(modulus, str) else 0
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
    requests: list[Request] = []
    for label, uri in cases:
        params = authorize_params(login, uri)
        try:
            answer = client.get(endpoint, params=params)
        except httpx.HTTPError as error:
            violations.append(f"{label}: no answer ({_error_name(error)})")
            continue
        location = answer.headers.get("location")
        if label == "registered":
            verdict = judge_registered_answer(answer.status_code, location, uri)
        else:
            verdict = judge_variant_answer(label, answer.status_code, location)
        if verdict:
            violations.append(verdict)
        requests.append(
            {
                "app": "A1",
                "method": "GET",
                "path": urlsplit(endpoint).path,
                "sent": f"redirect_uri {label}: {uri}",
                "status": answer.status_code,
                "result": verdict or "ok",
            }
        )
    return rule_verdict(
        OIDC_REDIRECT,
        "A1",
        cases=len(requests),
        violations=violations,
        details={"registered": login.redirect_uri, "requests": requests},
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


# --- OIDC-36 forged tokens ------------------------------------------------------------------


@dataclass(frozen=True)
class ProtectedOperation:
    """The bearer-protected GET an app is probed on; ``filled`` if path parameters were."""

    app_id: str
    url: str
    path: str
    filled: bool = False


@dataclass
class _Probe:
    requests: list[Request] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    untested: list[str] = field(default_factory=list)


def bearer_get_path(document: Any) -> tuple[str, bool] | None:
    """A GET operation of an OpenAPI document that needs a bearer token: ``(path, filled)``.

    One without path parameters is preferred; failing that, one whose parameters are filled
    with an id that cannot exist (auth comes before the lookup, so a valid token gets 404
    and a forged one 401).
    """
    paths = document.get("paths") if isinstance(document, dict) else None
    if not isinstance(paths, dict):
        return None
    global_security = document.get("security")
    candidates: list[tuple[bool, str]] = []
    for path, item in paths.items():
        operation = item.get("get") if isinstance(item, dict) else None
        if not isinstance(operation, dict):
            continue
        security = operation.get("security", global_security)
        if not security:
            continue
        candidates.append(("{" in path, path))
    if not candidates:
        return None
    filled, path = sorted(candidates)[0]
    if filled:
        path = "/".join(
            _PLACEHOLDER_ID if part.startswith("{") else part for part in path.split("/")
        )
    return path, filled


def protected_operations(
    client: httpx.Client, system_map: SystemMap, discovery: Mapping[str, Any]
) -> tuple[list[ProtectedOperation], list[str]]:
    """One bearer-protected GET per app that takes A1 tokens, and the apps left untested."""
    operations: list[ProtectedOperation] = []
    untested: list[str] = []
    for app_id, app in system_map.apps.items():
        if app_id == system_map.telemetry_app_id:
            untested.append(f"{app_id}: takes its own key (A8_TELEMETRY_KEY), not A1 tokens")
            continue
        if app_id == system_map.identity_app_id:
            userinfo = discovery.get("userinfo_endpoint")
            if isinstance(userinfo, str):
                operations.append(
                    ProtectedOperation(app_id, userinfo, urlsplit(userinfo).path or "/")
                )
            else:
                untested.append(f"{app_id}: discovery names no userinfo_endpoint")
            continue
        try:
            response = client.get(app.base_url + OPENAPI_PATH)
            document = _json_or_none(response) if response.status_code == 200 else None
        except httpx.HTTPError as error:
            untested.append(f"{app_id}: {OPENAPI_PATH} unreachable ({_error_name(error)})")
            continue
        chosen = bearer_get_path(document)
        if chosen is None:
            untested.append(f"{app_id}: its OpenAPI document has no bearer-protected GET")
            continue
        path, filled = chosen
        operations.append(ProtectedOperation(app_id, app.base_url + path, path, filled))
    return operations, untested


def _encode_jwt(header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
    return ".".join(
        _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )


def rsa_public_pem(jwk: Mapping[str, Any]) -> bytes:
    """A published RSA JWK as PEM SubjectPublicKeyInfo (the bytes the confusion attack uses)."""
    numbers = rsa.RSAPublicNumbers(_b64url_uint(str(jwk["e"])), _b64url_uint(str(jwk["n"])))
    return numbers.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def forged_tokens(claims: Mapping[str, Any], jwk: Mapping[str, Any]) -> dict[str, str]:
    """Three forgeries of a valid token's ``claims`` under the published key ``jwk``."""
    kid = jwk.get("kid")
    signing_input = _encode_jwt({"alg": "none", "typ": "JWT", "kid": kid}, claims)
    forged = {"alg none": signing_input + "."}
    hs_input = _encode_jwt({"alg": "HS256", "typ": "JWT", "kid": kid}, claims)
    mac = hmac.new(rsa_public_pem(jwk), hs_input.encode("ascii"), hashlib.sha256).digest()
    forged["HS256 keyed with the RSA public key"] = hs_input + "." + _b64url(mac)
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=MIN_RSA_BITS)
    rs_input = _encode_jwt({"alg": "RS256", "typ": "JWT", "kid": kid}, claims)
    signature = foreign.sign(rs_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    forged["RS256 signed by a key not in the JWKS"] = rs_input + "." + _b64url(signature)
    return forged


def judge_token_answer(app_id: str, label: str, status: int, *, valid: bool) -> str | None:
    """Why an app's answer breaks OIDC-36, or ``None``."""
    if valid:
        if not accepted(status):
            return f"{app_id}: the valid token was not accepted (status {status})"
        return None
    if status != 401:
        return f"{app_id}: {label} answered {status}, not 401"
    return None


def _signing_jwk(jwks: Any, kid: Any) -> Mapping[str, Any] | None:
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    for jwk in keys if isinstance(keys, list) else ():
        if isinstance(jwk, dict) and jwk.get("kid") == kid and jwk.get("kty") == "RSA":
            return jwk
    return None


def _status(client: httpx.Client, url: str, token: str) -> int | str:
    """The answer's status, or the name of the error that stopped it."""
    try:
        return client.get(url, headers={"Authorization": f"Bearer {token}"}).status_code
    except httpx.HTTPError as error:
        return _error_name(error)


def _note(
    probe: _Probe, operation: ProtectedOperation, label: str, status: int | str, *, valid: bool
) -> None:
    sent = f"{label}{' (path parameters filled with an absent id)' if operation.filled else ''}"
    if isinstance(status, str):
        problem: str | None = f"{operation.app_id}: {label}: no answer ({status})"
    else:
        problem = judge_token_answer(operation.app_id, label, status, valid=valid)
    if problem:
        probe.violations.append(problem)
    probe.requests.append(
        {
            "app": operation.app_id,
            "method": "GET",
            "path": operation.path,
            "sent": sent,
            "status": status,
            "result": problem or "ok",
        }
    )


def check_forged_tokens(
    client: httpx.Client,
    system_map: SystemMap,
    client_secret: str,
    *,
    deadline_s: float = ROTATION_DEADLINE_S,
    clock: Clock | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Verdict:
    """OIDC-36: every app that takes A1 tokens refuses the forgeries and accepts the token.

    The positive control is asked until accepted (``deadline_s``): right after a key
    rotation an app may not know the new kid until its JWKS refetch cooldown ends.
    """
    probe = _Probe()
    discovery, problem = get_discovery(client, system_map)
    if discovery is None:
        return rule_verdict(OIDC_FORGED, "A1..A7", cases=0, violations=[], untested=[problem])
    jwks, jwks_problem = get_jwks(client, discovery)
    try:
        token = fetch_token_sync(client, system_map, client_secret, SUBJECT)
        kid = token_kid(token.value)
    except (TokenError, ValueError) as error:
        return rule_verdict(OIDC_FORGED, "A1..A7", cases=0, violations=[], untested=[str(error)])
    jwk = _signing_jwk(jwks, kid)
    if jwk is None:
        reason = jwks_problem or f"the token's kid {kid!r} is not an RSA key of the JWKS"
        return rule_verdict(OIDC_FORGED, "A1..A7", cases=1, violations=[reason])
    forgeries = forged_tokens(token.claims, jwk)
    operations, probe.untested = protected_operations(client, system_map, discovery)
    control = _poll_until_accepted(
        client, operations, token.value, deadline_s, clock or SystemClock(), sleep
    )
    for operation in operations:
        status = control[operation.app_id]
        _note(probe, operation, "valid token (positive control)", status, valid=True)
        for label, forged in forgeries.items():
            status = _status(client, operation.url, forged)
            _note(probe, operation, label, status, valid=False)
    return rule_verdict(
        OIDC_FORGED,
        "A1..A7",
        cases=len(probe.requests),
        violations=probe.violations,
        untested=probe.untested,
        details={"requests": probe.requests},
    )


def _pad(part: str) -> str:
    return part + "=" * (-len(part) % 4)


def token_kid(token: str) -> Any:
    """The ``kid`` of a JWT's header (unverified)."""
    return json.loads(base64.urlsafe_b64decode(_pad(token.split(".")[0]))).get("kid")


# --- OIDC-37 rotation -----------------------------------------------------------------------


def _poll_until_accepted(
    client: httpx.Client,
    operations: Sequence[ProtectedOperation],
    token: str,
    deadline_s: float,
    clock: Clock,
    sleep: Callable[[float], None],
) -> dict[str, int | str]:
    """Each app's last answer to ``token``, asked until it accepts or ``deadline_s`` passes."""
    last: dict[str, int | str] = {}
    pending = list(operations)
    end = clock.monotonic() + deadline_s
    while pending:
        still: list[ProtectedOperation] = []
        for operation in pending:
            status = _status(client, operation.url, token)
            last[operation.app_id] = status
            if not accepted(status):
                still.append(operation)
        pending = still
        if not pending or clock.monotonic() >= end:
            break
        sleep(_POLL_INTERVAL_S)
    return last


def accepted(status: int | str) -> bool:
    """Whether an answer shows the token got past authentication."""
    return isinstance(status, int) and status not in _REFUSED_AUTH and status < 500


def judge_rotation(
    before: Mapping[str, int | str], after: Mapping[str, int | str], *, new_kid_used: bool
) -> list[str]:
    """OIDC-37's violations from each app's answers before and after the rotation."""
    violations = [] if new_kid_used else ["A1 did not sign the next token with the rotated key"]
    for app_id, status in before.items():
        if not accepted(status):
            violations.append(f"{app_id}: refused the pre-rotation token ({status})")
    for app_id, status in after.items():
        if not accepted(status):
            violations.append(
                f"{app_id}: refused a token signed with the rotated key ({status}): "
                "it does not refetch A1's JWKS on an unknown kid (jwks_refetch)"
            )
    return violations


def check_rotation(
    client: httpx.Client,
    system_map: SystemMap,
    client_secret: str,
    controls: TargetControl | None,
    *,
    deadline_s: float = ROTATION_DEADLINE_S,
    clock: Clock | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Verdict:
    """OIDC-37: every app accepts a token before, and a new-kid token after, A1 rotates."""
    subject = "A1..A7"
    if controls is None:
        return rule_verdict(
            OIDC_ROTATION,
            subject,
            cases=0,
            violations=[],
            untested=["the target offers no control to rotate A1's key (REFTARGET_ADMIN_TOKEN)"],
        )
    clock = clock or SystemClock()
    discovery, problem = get_discovery(client, system_map)
    if discovery is None:
        return rule_verdict(OIDC_ROTATION, subject, cases=0, violations=[], untested=[problem])
    operations, untested = protected_operations(client, system_map, discovery)
    try:
        old = fetch_token_sync(client, system_map, client_secret, SUBJECT)
        # Before: every app has verified (and cached the keys for) a current token.
        before = _poll_until_accepted(client, operations, old.value, deadline_s, clock, sleep)
        new_kid = controls.rotate_signing_key()
        new = fetch_token_sync(client, system_map, client_secret, SUBJECT)
    except (TokenError, ControlError) as error:
        return rule_verdict(OIDC_ROTATION, subject, cases=0, violations=[], untested=[str(error)])
    after = _poll_until_accepted(client, operations, new.value, deadline_s, clock, sleep)
    requests = [
        {
            "app": operation.app_id,
            "method": "GET",
            "path": operation.path,
            "sent": sent,
            "status": answers[operation.app_id],
            "result": "ok" if accepted(answers[operation.app_id]) else "refused",
        }
        for sent, answers in (("token of the old key", before), ("token of the new key", after))
        for operation in operations
        if operation.app_id in answers
    ]
    return rule_verdict(
        OIDC_ROTATION,
        subject,
        cases=len(before) + len(after),
        violations=judge_rotation(before, after, new_kid_used=token_kid(new.value) == new_kid),
        untested=untested,
        details={"new_kid": new_kid, "deadline_s": deadline_s, "requests": requests},
    )
