"""Phase 3 catches each contract rule the reference target can turn off, and only it.

Against a dedicated ecosystem: clean, every rule PASSes on every app it covers; with one
§4 rule switched off on every app (no 428, no dedupe, dedupe keyed on the trace id, no
tenant scope), exactly the rules that guard it FAIL, each verdict naming its rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from secondconf.checks.hardening.cases import CASES
from secondconf.checks.hardening.model import HardeningRun
from secondconf.checks.hardening.rules import RULES, judge_rule
from secondconf.checks.hardening.run import run_hardening
from secondconf.checks.hardening.ttl import check_ttl_boundary
from secondconf.checks.hardening.walk import RouteClient, countable_route
from secondconf.core.clock import SystemClock
from secondconf.engine.verdict import Outcome
from secondconf.target.a8 import A8Client
from secondconf.target.client import harness_client
from secondconf.target.control import TargetControl

from tests.harness.conftest import HarnessTarget
from tests.plugin.conftest import BASE_INI

# Alone, not beside other tests: under CPU contention (CI's parallel part, or three busy
# loops beside it: 1 run in 6) the clean run's IDEM-15 FAILed on one route of an app
# (A2 checkout, A3 runs, A7 pages), a false FAIL under load not yet explained.
pytestmark = pytest.mark.serial

SUITES = Path(__file__).parents[2] / "suites"
SUITE = SUITES / "test_idempotency.py"
LIFECYCLE = SUITES / "test_idempotency_lifecycle.py"
APPS_WITH_ROUTES = ("A2", "A3", "A4", "A5", "A6", "A7")

# The rules that FAIL when one reference rule is off (contract §4). A missing dedupe by
# trace id also breaks IDEM-10 (the original's replay under a new trace id executes
# again) and IDEM-15 (the N requests carry N trace ids); no 428 also lets an invalid
# traceparent through (TRC-27).
CAUGHT_BY = {
    "require_428": {"HDR-01", "HDR-02", "HDR-03", "TRC-27"},
    "dedupe": {"IDEM-07", "IDEM-09", "IDEM-10", "IDEM-12", "IDEM-15"},
    "dedupe_without_trace": {"IDEM-09", "IDEM-10", "IDEM-15"},
    "tenant_scope": {"TEN-22", "TEN-25"},
}


def measure(target: HarnessTarget) -> HardeningRun:
    async def run() -> HardeningRun:
        async with harness_client(target.map, env="embedded") as client:
            a8 = A8Client(client, target.map, target.secret("A8_TELEMETRY_KEY"))
            return await run_hardening(
                client,
                target.map,
                a8,
                target.secret("OIDC_CLIENT_SECRET"),
                CASES,
                SystemClock(),
                telemetry_deadline_s=20.0,
            )

    return asyncio.run(run())


@contextlib.contextmanager
def rules_off(target: HarnessTarget, rules: dict[str, str]) -> Iterator[None]:
    """Each app's one reference rule turned off for the block (app -> rule)."""
    for app_id, rule in rules.items():
        target.set_faults(app_id, {"disabled_rules": [rule]})
    try:
        yield
    finally:
        for app_id in rules:
            target.set_faults(app_id, {"disabled_rules": []})


def failing_rules(run: HardeningRun) -> dict[str, set[str]]:
    """rule id -> the apps whose verdict on it is not PASS."""
    found: dict[str, set[str]] = {}
    for rule_id in RULES:
        for verdict in judge_rule(run, rule_id):
            if verdict.outcome is not Outcome.PASS:
                found.setdefault(rule_id, set()).add(verdict.subject)
    return found


@pytest.fixture(scope="module")
def clean_run(harness_target: HarnessTarget) -> HardeningRun:
    return measure(harness_target)


def test_a_clean_target_passes_every_rule(clean_run: HardeningRun) -> None:
    run = clean_run
    assert failing_rules(run) == {}
    for rule_id in RULES:
        verdicts = judge_rule(run, rule_id)
        assert verdicts, rule_id
        assert all(v.n > 0 and v.details["rule"] == rule_id for v in verdicts)
    covered = {app for app, coverage in run.apps.items() if coverage.covered}
    assert covered == set(APPS_WITH_ROUTES)
    assert {v.subject for v in judge_rule(run, "HDR-01")} == set(APPS_WITH_ROUTES)
    # 17 covered routes (A2's checkout sessions and checkout page's pay among them, issue
    # 10), each with its request log
    assert sum(len(coverage.covered) for coverage in run.apps.values()) == 17
    # Every case that ran has its request log; a case whose route's example cannot succeed
    # here (A2's POST /checkout/pay needs a checkout session a browser journey opens: the
    # B2C funnel's header check covers it) is listed as untested, with no request.
    ran = [case for case in run.cases if not case.not_applicable and not case.untested]
    assert all(case.requests for case in ran)
    untested_routes = {case.route for case in run.cases if case.untested}
    assert untested_routes <= {"A2 POST /checkout/pay"}


# One run with a different rule off on each app (faults are per app process): each app
# must fail exactly the rules that guard its switch. tenant_scope is on A7, whose pages
# another tenant can ask for by id.
RULE_OFF_ON = {
    "A2": "require_428",
    "A3": "require_428",
    "A4": "dedupe",
    "A5": "dedupe",
    "A6": "dedupe_without_trace",
    "A7": "tenant_scope",
}


def test_each_rule_switched_off_fails_exactly_its_checks(harness_target: HarnessTarget) -> None:
    assert set(RULE_OFF_ON.values()) == set(CAUGHT_BY)
    with rules_off(harness_target, RULE_OFF_ON):
        run = measure(harness_target)
    failing_apps = failing_rules(run)
    for app_id, rule in RULE_OFF_ON.items():
        failed = {rule_id for rule_id, apps in failing_apps.items() if app_id in apps}
        assert failed == CAUGHT_BY[rule], (app_id, rule)
    for rule_id in failing_apps:
        for verdict in judge_rule(run, rule_id):
            if verdict.outcome is not Outcome.PASS:
                assert verdict.outcome is Outcome.FAIL
                assert verdict.check.startswith(rule_id)
                assert verdict.details["violations"]


# A5's spend calls A4 under a key derived from its own: crossing the TTL on A5's clock
# alone would leave that key alive in A4, and the check would fail a correct platform.
CALLS_ANOTHER_APP = "A5 POST /v1/credits/spend"


@pytest.mark.parametrize("walked", ["quickest", CALLS_ANOTHER_APP])
def test_the_ttl_boundary_fails_without_dedupe(
    harness_target: HarnessTarget, clean_run: HardeningRun, walked: str
) -> None:
    label = countable_route(clean_run) if walked == "quickest" else walked
    assert label in clean_run.walkable
    control = TargetControl(harness_target.map, harness_target.secret("REFTARGET_ADMIN_TOKEN"))
    secret = harness_target.secret("OIDC_CLIENT_SECRET")
    a8_key = harness_target.secret("A8_TELEMETRY_KEY")
    with RouteClient(harness_target.map, "embedded", secret, label) as route:
        shift = control.platform_clock_offset
        # A verdict variable, not the call in the assert: a failing assert would print
        # the call's arguments, the A8 key among them.
        clean = check_ttl_boundary(route, shift, a8_key, 20.0)
        assert clean.outcome is Outcome.PASS, clean.details["violations"]
        with rules_off(harness_target, {route.app_id: "dedupe"}):
            verdict = check_ttl_boundary(route, shift, a8_key, 20.0)
    assert verdict.outcome is Outcome.FAIL, verdict.details["violations"]
    assert verdict.check.startswith("IDEM-13")
    assert any("TTL - 10 s" in v for v in verdict.details["violations"])


def test_the_suites_fail_the_gate_naming_the_rules(
    pytester: pytest.Pytester, harness_target: HarnessTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both suites through pytest with dedupe off: the rule checks, the TTL boundary and
    the state machine (on whichever route they walk) all fail, naming their rules."""
    for name, value in harness_target.secrets.items():
        monkeypatch.setenv(name, value)
    pytester.makeini(BASE_INI)
    shutil.copy(SUITE, pytester.path / "test_idempotency.py")
    shutil.copy(LIFECYCLE, pytester.path / "test_idempotency_lifecycle.py")
    system_map = f"--system-map={harness_target.eco.system_map_path}"
    with rules_off(harness_target, dict.fromkeys(APPS_WITH_ROUTES, "dedupe")):
        result = pytester.runpytest_subprocess(
            system_map, "-p", "no:cacheprovider", "-p", "no:xdist"
        )
    dedupe_rules = CAUGHT_BY["dedupe"]
    # the rule checks of dedupe, the TTL boundary and the state machine fail
    result.assert_outcomes(
        passed=len(RULES) - len(dedupe_rules), failed=len(dedupe_rules) + 2, skipped=1
    )
    result.stdout.fnmatch_lines(
        [
            "*GATE FAILED: 7 of 21 check(s) not PASS*",
            "*test_contract_rule[[]IDEM-09[]]*",
            "*A2 IDEM-09 same key with a new trace id is a replay [[]probe+A8[]] FAIL*",
            "*A2 POST /v1/checkout: same key and body, new trace id: not a replay*",
            "*IDEM-13 a key is kept 15 minutes, then free again [[]probe+A8[]] FAIL*",
            "*IDEM-18 side effects = distinct keys accepted within the TTL [[]probe+A8[]] FAIL*",
        ],
        consecutive=False,
    )
    report = pytester.path / "tests" / "perf" / "reports" / "idempotency_validation.md"
    assert "IDEM-09 same key with a new trace id is a replay: A2 (FAIL)" in report.read_text()
