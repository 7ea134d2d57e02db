"""OIDC checks on every app that takes A1's tokens: forgeries refused, rotations followed.

- OIDC-36 forged tokens: ``alg: none``, HS256 keyed with A1's public key (algorithm
  confusion) and RS256 signed by a foreign key are refused (401) by A1's userinfo and by a
  bearer-protected GET of every other app; the valid token is accepted there (positive
  control). The foreign-key token carries a *published* kid: a verifier that trusts the kid
  must still check the signature, and an unknown kid would make every app refetch A1's JWKS
  and start its refetch cooldown, delaying a rotation check run right after.
- OIDC-37 rotation: A1 rotates its signing key (target control); a token with the new kid
  is accepted everywhere without a restart (polled up to a deadline longer than a relying
  app's refetch cooldown).

Each ``judge_*`` function is pure (unit-tested with fake answers); each ``check_*`` function
sends the requests and calls the judge. No token value is ever put in a verdict.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from secondconf.contract.catalog import rule_by_id
from secondconf.core.clock import Clock, SystemClock
from secondconf.core.secret import Secret
from secondconf.engine.evidence import RequestRecord
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Verdict
from secondconf.target.control import ControlError, TargetControl
from secondconf.target.identity import TokenError, fetch_token_sync
from secondconf.target.map import OPENAPI_PATH, SystemMap
from secondconf.target.oidc_documents import (
    MIN_RSA_BITS,
    TOKEN_SUBJECT,
    b64url,
    b64url_uint,
    error_name,
    get_discovery,
    get_jwks,
    json_or_none,
)

OIDC_FORGED: Final = rule_by_id("OIDC-36")
OIDC_ROTATION: Final = rule_by_id("OIDC-37")

ROTATION_DEADLINE_S: Final = 15.0  # longer than a relying app's JWKS refetch cooldown
_POLL_INTERVAL_S: Final = 0.5
_PLACEHOLDER_ID: Final = "00000000-0000-4000-8000-000000000000"
_REFUSED_AUTH: Final = frozenset({401, 403})


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
    requests: list[RequestRecord] = field(default_factory=list)
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
            document = json_or_none(response) if response.status_code == 200 else None
        except httpx.HTTPError as error:
            untested.append(f"{app_id}: {OPENAPI_PATH} unreachable ({error_name(error)})")
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
        b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )


def rsa_public_pem(jwk: Mapping[str, Any]) -> bytes:
    """A published RSA JWK as PEM SubjectPublicKeyInfo (the bytes the confusion attack uses)."""
    numbers = rsa.RSAPublicNumbers(b64url_uint(str(jwk["e"])), b64url_uint(str(jwk["n"])))
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
    forged["HS256 keyed with the RSA public key"] = hs_input + "." + b64url(mac)
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=MIN_RSA_BITS)
    rs_input = _encode_jwt({"alg": "RS256", "typ": "JWT", "kid": kid}, claims)
    signature = foreign.sign(rs_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    forged["RS256 signed by a key not in the JWKS"] = rs_input + "." + b64url(signature)
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
        return error_name(error)


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
        RequestRecord(operation.app_id, "GET", operation.path, sent, status, problem or "ok")
    )


def check_forged_tokens(
    client: httpx.Client,
    system_map: SystemMap,
    client_secret: Secret,
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
        token = fetch_token_sync(client, system_map, client_secret, TOKEN_SUBJECT)
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
        details={"requests": [record.to_dict() for record in probe.requests]},
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
    client_secret: Secret,
    controls: TargetControl | None,
    *,
    deadline_s: float = ROTATION_DEADLINE_S,
    clock: Clock | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Verdict:
    """OIDC-37: every app accepts a token before, and a new-kid token after, A1 rotates.

    ``controls`` rotates the key: the ``fault_control`` fixture's, which logs the rotation
    to the HITL log first. Without it the rule is INCONCLUSIVE, saying why.
    """
    subject = "A1..A7"
    if controls is None:
        return rule_verdict(
            OIDC_ROTATION,
            subject,
            cases=0,
            violations=[],
            untested=[
                "no control to rotate A1's key (the target offers none, "
                "or staging has no inject_503 approval)"
            ],
        )
    clock = clock or SystemClock()
    discovery, problem = get_discovery(client, system_map)
    if discovery is None:
        return rule_verdict(OIDC_ROTATION, subject, cases=0, violations=[], untested=[problem])
    operations, untested = protected_operations(client, system_map, discovery)
    try:
        old = fetch_token_sync(client, system_map, client_secret, TOKEN_SUBJECT)
        # Before: every app has verified (and cached the keys for) a current token.
        before = _poll_until_accepted(client, operations, old.value, deadline_s, clock, sleep)
        new_kid = controls.rotate_signing_key()
        new = fetch_token_sync(client, system_map, client_secret, TOKEN_SUBJECT)
    except (TokenError, ControlError) as error:
        return rule_verdict(OIDC_ROTATION, subject, cases=0, violations=[], untested=[str(error)])
    after = _poll_until_accepted(client, operations, new.value, deadline_s, clock, sleep)
    requests = [
        RequestRecord(
            operation.app_id,
            "GET",
            operation.path,
            sent,
            answers[operation.app_id],
            "ok" if accepted(answers[operation.app_id]) else "refused",
        )
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
        details={
            "new_kid": new_kid,
            "deadline_s": deadline_s,
            "requests": [record.to_dict() for record in requests],
        },
    )
