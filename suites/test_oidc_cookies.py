"""Phase 3: A1's session cookie and OIDC, and every app's handling of A1's tokens.

CK-29 … CK-31 (the session cookie of a real login, read from the raw ``Set-Cookie`` list),
OIDC-34 (discovery), OIDC-35 (JWKS hygiene), OIDC-36 (forged tokens refused by every app
that takes A1 tokens), OIDC-37 (a rotated key accepted without a restart: HITL gate
``secret_rotation``), OIDC-38 (``redirect_uri`` exact match), and the cookie policy drill
(HITL gate ``oidc_cookie_policy``). The rotation and the drill change the target through
``fault_control``, so each change is logged to the HITL log as an action (and in staging
needs an ``inject_503`` approval too); without it they are INCONCLUSIVE, saying why. The
logic lives in :mod:`secondconf.checks.oidc.cookies`,
:mod:`secondconf.checks.oidc.provider` (OIDC-34, 35, 38) and
:mod:`secondconf.checks.oidc.tokens` (OIDC-36, 37); what each needs from the system map is
in docs/checks/oidc-cookies.md. Only the JWKS check sends nothing but GETs (``prod_safe``):
the others fetch a token or post A1's login form.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import httpx
import pytest
from secondconf.checks.oidc.cookies import check_session_cookie, drill_cookie_policy
from secondconf.checks.oidc.provider import check_discovery, check_jwks, check_redirect_matrix
from secondconf.checks.oidc.tokens import check_forged_tokens, check_rotation
from secondconf.core.secret import Secret
from secondconf.engine.verdict import Verdict
from secondconf.target.control import TargetControl
from secondconf.target.deployment import Target

pytestmark = [
    pytest.mark.second_confirmation,
    pytest.mark.idempotency,
    pytest.mark.phase(3),
]

RecordVerdict = Callable[[Verdict], Verdict]
SecretOf = Callable[[str], Secret]


def _login_password(target: Target) -> Secret | None:
    """The synthetic identities' password, from the variable the map names (never shown)."""
    login = target.system_map.browser_login
    if login is None:
        return None
    if login.password_env in target.secrets:
        return target.secrets[login.password_env]
    value = os.environ.get(login.password_env)
    return Secret(login.password_env, value) if value else None


@pytest.mark.rules("CK-29", "CK-30", "CK-31")
def test_session_cookie(
    target: Target, sync_client: httpx.Client, record_verdict: RecordVerdict
) -> None:
    for verdict in check_session_cookie(sync_client, target.system_map, _login_password(target)):
        record_verdict(verdict)


@pytest.mark.rules("OIDC-34")
def test_oidc_discovery(
    target: Target, sync_client: httpx.Client, secret: SecretOf, record_verdict: RecordVerdict
) -> None:
    record_verdict(check_discovery(sync_client, target.system_map, secret("OIDC_CLIENT_SECRET")))


@pytest.mark.prod_safe
@pytest.mark.rules("OIDC-35")
def test_jwks_hygiene(
    target: Target, sync_client: httpx.Client, record_verdict: RecordVerdict
) -> None:
    record_verdict(check_jwks(sync_client, target.system_map))


@pytest.mark.rules("OIDC-38")
def test_redirect_uri_exact_match(
    target: Target, sync_client: httpx.Client, record_verdict: RecordVerdict
) -> None:
    record_verdict(check_redirect_matrix(sync_client, target.system_map))


@pytest.mark.rules("OIDC-36")
def test_forged_tokens_refused(
    target: Target, sync_client: httpx.Client, secret: SecretOf, record_verdict: RecordVerdict
) -> None:
    record_verdict(
        check_forged_tokens(sync_client, target.system_map, secret("OIDC_CLIENT_SECRET"))
    )


@pytest.mark.hitl(gate="secret_rotation")
@pytest.mark.rules("OIDC-37")
def test_rotated_key_accepted(
    target: Target,
    sync_client: httpx.Client,
    secret: SecretOf,
    fault_control: TargetControl | None,
    exclusive_target_load: None,
    record_verdict: RecordVerdict,
) -> None:
    client_secret = secret("OIDC_CLIENT_SECRET")
    record_verdict(check_rotation(sync_client, target.system_map, client_secret, fault_control))


@pytest.mark.hitl(gate="oidc_cookie_policy")
@pytest.mark.rules("CK-29-DRILL")
def test_cookie_policy_drill(
    target: Target,
    sync_client: httpx.Client,
    fault_control: TargetControl | None,
    exclusive_target_load: None,
    record_verdict: RecordVerdict,
) -> None:
    password = _login_password(target)
    record_verdict(drill_cookie_policy(sync_client, target.system_map, password, fault_control))
