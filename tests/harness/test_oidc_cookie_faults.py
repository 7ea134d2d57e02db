"""The cookie and OIDC checks against the reference target: clean, then one fault at a time.

Clean: every rule PASSes (the cookie policy drill included). ``cookie_attributes`` off on
A1: CK-29 FAILs naming the missing attributes. ``jwks_refetch`` off on A2..A7: OIDC-37
FAILs naming the apps that refuse the rotated key. Last, the suite itself runs through
pytest with both HITL gates approved, the way a deployment is checked: the key rotation
and the drill's fault and rollback are then in the HITL log as actions.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from secondconf.checks.oidc.cookies import check_session_cookie, drill_cookie_policy
from secondconf.checks.oidc.provider import check_discovery, check_jwks, check_redirect_matrix
from secondconf.checks.oidc.tokens import check_forged_tokens, check_rotation
from secondconf.core.clock import SystemClock
from secondconf.engine.verdict import Outcome, Verdict
from secondconf.hitl.log import ApprovalLog, append_approval
from secondconf.target.client import harness_sync_client
from secondconf.target.control import TargetControl, target_control
from secondconf.target.deployment import secrets_of

from tests.harness.conftest import HarnessTarget
from tests.plugin.conftest import BASE_INI

SUITE = Path(__file__).parents[2] / "suites" / "test_oidc_cookies.py"
RELYING_APPS = ("A2", "A3", "A4", "A5", "A6", "A7")


@pytest.fixture
def client(harness_target: HarnessTarget) -> Iterator[httpx.Client]:
    with harness_sync_client(harness_target.map, env="embedded") as opened:
        yield opened


@pytest.fixture
def controls(harness_target: HarnessTarget) -> TargetControl:
    found = target_control(harness_target.map, secrets_of(harness_target.secrets))
    assert found is not None
    return found


def _explain(verdict: Verdict) -> str:
    return f"{verdict.summary()} {verdict.details['violations']} {verdict.details['untested']}"


def test_a_clean_target_passes_every_rule(
    harness_target: HarnessTarget, client: httpx.Client, controls: TargetControl
) -> None:
    secret = harness_target.secret("OIDC_CLIENT_SECRET")
    verdicts = [
        *check_session_cookie(client, harness_target.map, secret),
        check_discovery(client, harness_target.map, secret),
        check_jwks(client, harness_target.map),
        check_redirect_matrix(client, harness_target.map),
        check_forged_tokens(client, harness_target.map, secret),
        check_rotation(client, harness_target.map, secret, controls),
        drill_cookie_policy(client, harness_target.map, secret, controls),
    ]
    rules = [v.details["rule"] for v in verdicts]
    assert rules == [
        "CK-29", "CK-30", "CK-31", "OIDC-34", "OIDC-35", "OIDC-38", "OIDC-36", "OIDC-37",
        "CK-29-DRILL",
    ]  # fmt: skip
    for verdict in verdicts:
        assert verdict.outcome is Outcome.PASS, _explain(verdict)
    forged = verdicts[6]
    assert forged.details["untested"] == ["A8: takes its own key (A8_TELEMETRY_KEY), not A1 tokens"]
    assert {r["app"] for r in forged.details["requests"]} == {"A1", *RELYING_APPS}
    redirect = verdicts[5]
    assert len(redirect.details["requests"]) >= 8  # the registered URI and 7+ variants


def test_weakened_cookie_attributes_fail_ck29(
    harness_target: HarnessTarget, client: httpx.Client
) -> None:
    harness_target.set_faults("A1", {"disabled_rules": ["cookie_attributes"]})
    try:
        verdicts = check_session_cookie(
            client, harness_target.map, harness_target.secret("OIDC_CLIENT_SECRET")
        )
    finally:
        harness_target.set_faults("A1", {"disabled_rules": []})
    attributes = verdicts[0]
    assert attributes.details["rule"] == "CK-29"
    assert attributes.outcome is Outcome.FAIL, _explain(attributes)
    assert attributes.check.startswith("CK-29 ")
    assert attributes.details["violations"] == [
        "a1_session: no Secure",
        "a1_session: no SameSite (expected SameSite=None)",
    ]
    assert [v.outcome for v in verdicts[1:]] == [Outcome.PASS, Outcome.PASS]


def test_a_frozen_jwks_fails_the_rotation_rule(
    harness_target: HarnessTarget, client: httpx.Client, controls: TargetControl
) -> None:
    for app_id in RELYING_APPS:
        harness_target.set_faults(app_id, {"disabled_rules": ["jwks_refetch"]})
    try:
        verdict = check_rotation(
            client,
            harness_target.map,
            harness_target.secret("OIDC_CLIENT_SECRET"),
            controls,
            deadline_s=2.0,  # a frozen snapshot never learns the key: no need to wait longer
        )
    finally:
        for app_id in RELYING_APPS:
            harness_target.set_faults(app_id, {"disabled_rules": []})
    assert verdict.details["rule"] == "OIDC-37"
    assert verdict.outcome is Outcome.FAIL, _explain(verdict)
    failed_apps = sorted(v.split(":")[0] for v in verdict.details["violations"])
    assert failed_apps == list(RELYING_APPS)
    assert all("jwks_refetch" in v for v in verdict.details["violations"])


def test_the_suite_passes_with_both_gates_approved(
    pytester: pytest.Pytester, harness_target: HarnessTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in harness_target.secrets.items():
        monkeypatch.setenv(name, value)
    pytester.makeini(BASE_INI)
    shutil.copy(SUITE, pytester.path / "test_oidc_cookies.py")
    for gate in ("secret_rotation", "oidc_cookie_policy"):
        append_approval(
            pytester.path / "tests/perf/reports/hitl_approvals.log",
            who="qa-lead",
            gate=gate,
            env="embedded",
            reason="oidc fault test",
            clock=SystemClock(),
            expires_at=datetime.now(UTC) + timedelta(hours=1),
        )
    system_map = f"--system-map={harness_target.eco.system_map_path}"  # one argument
    result = pytester.runpytest(system_map, "-p", "no:cacheprovider", "-p", "no:xdist")
    result.assert_outcomes(passed=7)
    result.stdout.fnmatch_lines(["*GATE PASSED: 7 passed*"])
    # Contract §9: the rotation and the drill's fault and rollback went through
    # fault_control, which logged each to the HITL log before making it.
    log = ApprovalLog.load(pytester.path / "tests/perf/reports/hitl_approvals.log")
    assert [(action.app, action.what) for action in log.actions] == [
        ("A1", "rotate signing key"),
        ("A1", 'set faults {"disabled_rules":["cookie_attributes"]}'),
        ("A1", "clear faults (rollback)"),
    ]
