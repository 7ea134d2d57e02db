"""Phase 3: A1's session cookie and OIDC, and every app's handling of A1's tokens.

CK-29 … CK-31 (the session cookie of a real login, read from the raw ``Set-Cookie`` list),
OIDC-34 (discovery), OIDC-35 (JWKS hygiene), OIDC-36 (forged tokens refused by every app
that takes A1 tokens), OIDC-37 (a rotated key accepted without a restart: HITL gate
``secret_rotation``), OIDC-38 (``redirect_uri`` exact match), and the cookie policy drill
(HITL gate ``oidc_cookie_policy``). The logic lives in :mod:`secondconf.checks.oidc.cookies`,
:mod:`secondconf.checks.oidc.provider` (OIDC-34, 35, 38) and
:mod:`secondconf.checks.oidc.tokens` (OIDC-36, 37); what each needs from the system map is
in docs/checks/oidc-cookies.md. Only the JWKS check sends nothing but GETs (``prod_safe``):
the others fetch a token or post A1's login form.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence

import allure
import httpx
import pytest
from secondconf.checks.oidc.cookies import check_session_cookie, drill_cookie_policy
from secondconf.checks.oidc.provider import check_discovery, check_jwks, check_redirect_matrix
from secondconf.checks.oidc.tokens import check_forged_tokens, check_rotation
from secondconf.core.secret import Secret
from secondconf.engine.verdict import Verdict
from secondconf.pytest_plugin.state import SETTINGS_KEY
from secondconf.target.client import harness_sync_client
from secondconf.target.deployment import Target, TargetError

pytestmark = [
    pytest.mark.second_confirmation,
    pytest.mark.idempotency,
    pytest.mark.phase(3),
]

RecordVerdict = Callable[[Verdict], Verdict]


@pytest.fixture
def client(target: Target, pytestconfig: pytest.Config) -> Iterator[httpx.Client]:
    env = pytestconfig.stash[SETTINGS_KEY].env.value
    with harness_sync_client(target.system_map, env=env, timeout_s=10.0) as opened:
        yield opened


def _client_secret(target: Target) -> Secret:
    try:
        return target.secret("OIDC_CLIENT_SECRET")
    except TargetError as error:
        pytest.fail(str(error), pytrace=False)


def _login_password(target: Target) -> str | None:
    """The synthetic identities' password, from the variable the map names (never shown)."""
    login = target.system_map.browser_login
    if login is None:
        return None
    secret = target.secrets.get(login.password_env)
    return secret.reveal() if secret is not None else os.environ.get(login.password_env)


def _record(check: str, verdicts: Sequence[Verdict], record_verdict: RecordVerdict) -> None:
    allure.dynamic.label("phase", "3")
    allure.dynamic.label("app", "A1")
    allure.dynamic.label("check", check)
    for verdict in verdicts:
        with allure.step(f"{verdict.check} [{verdict.source}]: {verdict.outcome.value}"):
            allure.attach(
                verdict.summary()
                + "\n"
                + "\n".join([*verdict.details["violations"], *verdict.details["untested"]]),
                name=verdict.check,
                attachment_type=allure.attachment_type.TEXT,
            )
        record_verdict(verdict)


def test_session_cookie(
    target: Target, client: httpx.Client, record_verdict: RecordVerdict
) -> None:
    verdicts = check_session_cookie(client, target.system_map, _login_password(target))
    _record("session cookie", verdicts, record_verdict)


def test_oidc_discovery(
    target: Target, client: httpx.Client, record_verdict: RecordVerdict
) -> None:
    verdict = check_discovery(client, target.system_map, _client_secret(target))
    _record("oidc discovery", [verdict], record_verdict)


@pytest.mark.prod_safe
def test_jwks_hygiene(target: Target, client: httpx.Client, record_verdict: RecordVerdict) -> None:
    _record("jwks hygiene", [check_jwks(client, target.system_map)], record_verdict)


def test_redirect_uri_exact_match(
    target: Target, client: httpx.Client, record_verdict: RecordVerdict
) -> None:
    _record("redirect_uri", [check_redirect_matrix(client, target.system_map)], record_verdict)


def test_forged_tokens_refused(
    target: Target, client: httpx.Client, record_verdict: RecordVerdict
) -> None:
    verdict = check_forged_tokens(client, target.system_map, _client_secret(target))
    _record("forged tokens", [verdict], record_verdict)


@pytest.mark.hitl(gate="secret_rotation")
def test_rotated_key_accepted(
    target: Target,
    client: httpx.Client,
    exclusive_target_load: None,
    record_verdict: RecordVerdict,
) -> None:
    verdict = check_rotation(client, target.system_map, _client_secret(target), target.controls)
    _record("key rotation", [verdict], record_verdict)


@pytest.mark.hitl(gate="oidc_cookie_policy")
def test_cookie_policy_drill(
    target: Target,
    client: httpx.Client,
    exclusive_target_load: None,
    record_verdict: RecordVerdict,
) -> None:
    verdict = drill_cookie_policy(
        client, target.system_map, _login_password(target), target.controls
    )
    _record("cookie policy drill", [verdict], record_verdict)
