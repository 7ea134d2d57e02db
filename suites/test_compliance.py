"""Phase 3: compliance (contract §14): PII minimization, COPPA, FERPA, academic integrity.

Every check acts only as synthetic identities (contract §5). All but COPPA act as the
two the production guard allows and are ``prod_safe`` (FERPA's second student is then
refused before sending, and the check names that case as not exercised); COPPA signs up
other names of the namespace and deletes them, so ``prod_observe`` skips it. The logic lives in
:mod:`secondconf.checks.compliance`; docs/checks/compliance.md says what each rule tries.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest
from secondconf.checks.compliance.actor import Actor
from secondconf.checks.compliance.coppa import coppa_verdicts, run_coppa
from secondconf.checks.compliance.ferpa import ferpa_verdict, run_ferpa
from secondconf.checks.compliance.integrity import integrity_verdicts, run_integrity
from secondconf.checks.compliance.minimization import check_output_pii, check_telemetry_pii
from secondconf.checks.compliance.pii import Canaries
from secondconf.checks.safety.secrets_scan import output_dirs
from secondconf.core.secret import Secret
from secondconf.engine.verdict import Verdict
from secondconf.pytest_plugin.final_scan import allure_dir_of
from secondconf.settings import HarnessSettings
from secondconf.target.a8 import A8Client
from secondconf.target.deployment import Target

pytestmark = [
    pytest.mark.second_confirmation,
    pytest.mark.compliance,
    pytest.mark.phase(3),
]

RecordVerdict = Callable[[Verdict], Verdict]
RunAsync = Callable[[Coroutine[Any, Any, Any]], Any]
SecretOf = Callable[[str], Secret]


@pytest.fixture
def actor(target: Target, async_client: httpx.AsyncClient, secret: SecretOf) -> Actor:
    return Actor(async_client, target.system_map, secret("OIDC_CLIENT_SECRET"))


def _login_password(target: Target) -> Secret | None:
    """The synthetic identities' password, from the variable the map names (never shown)."""
    login = target.system_map.browser_login
    if login is None:
        return None
    if login.password_env in target.secrets:
        return target.secrets[login.password_env]
    value = os.environ.get(login.password_env)
    return Secret(login.password_env, value) if value else None


def _log_dirs(target: Target) -> list[Path]:
    """The embedded target's log folder (a deployment's logs are not ours to read)."""
    state_dir = target.processes.state_dir if target.processes is not None else None
    return [] if state_dir is None else [Path(state_dir) / "logs"]


@pytest.mark.prod_safe
@pytest.mark.rules("PII-01", "PII-02")
def test_pii_minimization(
    target: Target,
    actor: Actor,
    a8: A8Client,
    settings: HarnessSettings,
    pytestconfig: pytest.Config,
    run_async: RunAsync,
    record_verdict: RecordVerdict,
) -> None:
    canaries = Canaries.new()
    record_verdict(run_async(check_telemetry_pii(actor, a8, canaries)))
    folders = output_dirs(
        settings, allure_dir=allure_dir_of(pytestconfig), log_dirs=_log_dirs(target)
    )
    record_verdict(check_output_pii(folders, canaries))


@pytest.mark.prod_safe
@pytest.mark.rules("INT-01", "INT-02")
def test_academic_integrity(
    actor: Actor, a8: A8Client, run_async: RunAsync, record_verdict: RecordVerdict
) -> None:
    for verdict in integrity_verdicts(run_async(run_integrity(actor, a8))):
        record_verdict(verdict)


@pytest.mark.rules("COPPA-01", "COPPA-02")
def test_coppa_age_gate(
    target: Target,
    actor: Actor,
    a8: A8Client,
    run_async: RunAsync,
    record_verdict: RecordVerdict,
) -> None:
    login, password = target.system_map.browser_login, _login_password(target)
    for verdict in coppa_verdicts(run_async(run_coppa(actor, a8, login, password))):
        record_verdict(verdict)


@pytest.mark.prod_safe
@pytest.mark.rules("FERPA-01")
def test_ferpa_scope(
    target: Target, actor: Actor, run_async: RunAsync, record_verdict: RecordVerdict
) -> None:
    login, password = target.system_map.browser_login, _login_password(target)
    record_verdict(ferpa_verdict(run_async(run_ferpa(actor, login, password))))
