"""The B2C funnel against the reference target: each seed fix broken makes it FAIL naming that
fix; a Stripe decline fails the checkout; a synthetic charge counted as real fails the
exclusions; a tile that never updates fails; the suite on a clean target PASSes and writes
every deliverable. Every run deletes the identities it created and proves it, failed or not.

Lean: fault runs walk 3 journeys at once with no retry and a 10 s tile deadline (no rate is
needed to see a fault); faults that do not mask each other share a run. Only the clean suite
run walks the 35 journeys a rate needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import shutil
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from secondconf.checks.funnels.diagnosis import FIXES
from secondconf.checks.funnels.judge import judge_funnel, judge_named
from secondconf.checks.funnels.model import FunnelRun
from secondconf.checks.funnels.run import FunnelPlan, FunnelSecrets, run_funnel, usernames
from secondconf.core.clock import SystemClock
from secondconf.engine.verdict import Outcome, Verdict
from secondconf.target.client import harness_client
from secondconf.target.identity import fetch_token

from tests.harness.conftest import HarnessTarget
from tests.plugin.conftest import BASE_INI

SUITE = Path(__file__).parents[2] / "suites" / "test_funnel_b2c.py"
FAULT_PLAN = FunnelPlan(journeys=3, concurrency=3, retry=False, tile_deadline_s=10.0)


def walk(target: HarnessTarget, plan: FunnelPlan = FAULT_PLAN) -> FunnelRun:
    secrets = FunnelSecrets(
        a8_key=target.secret("A8_TELEMETRY_KEY"),
        client_secret=target.secret("OIDC_CLIENT_SECRET"),
        password=target.secret("OIDC_CLIENT_SECRET"),  # the map's browser_login.password_env
        stripe_key=target.secret("STRIPE_SECRET_KEY"),
    )

    async def run() -> FunnelRun:
        async with harness_client(target.map, env="embedded") as client:
            return await run_funnel(client, target.map, secrets, plan, SystemClock())

    walked = asyncio.run(run())
    print(f"B2C run phases (s): {walked.phases_s}")  # shown by -s: where a slow run spends
    return walked


@pytest.fixture
def faulty(harness_target: HarnessTarget) -> Iterator[Any]:
    """Set faults per app for one test; every app is cleared afterwards."""
    touched: list[str] = []

    def set_faults(faults: Mapping[str, Mapping[str, Any]]) -> None:
        for app_id, settings in faults.items():
            touched.append(app_id)
            harness_target.set_faults(app_id, settings)

    yield set_faults
    for app_id in dict.fromkeys(touched):
        harness_target.set_faults(app_id, {"disabled_rules": [], "telemetry_drop_fraction": 0.0})


def verdicts_of(run: FunnelRun, target: HarnessTarget) -> dict[str, list[Verdict]]:
    found: dict[str, list[Verdict]] = {}
    for verdict in judge_funnel(run, target.map.browser_login):
        found.setdefault(verdict.details["rule"], []).append(verdict)
    return found


def outcome(verdicts: dict[str, list[Verdict]], rule_id: str) -> Outcome:
    """FAIL if any verdict of the rule failed, else the first one's outcome."""
    outcomes = [v.outcome for v in verdicts[rule_id]]
    return Outcome.FAIL if Outcome.FAIL in outcomes else outcomes[0]


def assert_cleaned_up(run: FunnelRun) -> None:
    assert [c.subject for c in run.cleanup] == [j.username for j in run.first_attempts]
    assert all(c.proven for c in run.cleanup), [c for c in run.cleanup if not c.proven]


def test_four_broken_fixes_and_a_leaking_revenue_tile_each_fail_naming_their_fix(
    harness_target: HarnessTarget, faulty: Any
) -> None:
    faulty(
        {
            "A1": {"disabled_rules": ["cookie_attributes", "cookie_ttl_domain"]},
            "A2": {"disabled_rules": ["funnel_headers"]},
            "A3": {"disabled_rules": ["funnel_headers", "attribution_mapping"]},
            "A8": {"disabled_rules": ["synthetic_apart"]},
        }
    )
    run = walk(harness_target)
    verdicts = verdicts_of(run, harness_target)
    for rule_id in ("B2C-07", "B2C-08", "B2C-09", "B2C-11"):
        verdict = verdicts[rule_id][0]
        assert verdict.outcome is Outcome.FAIL, verdict.summary()
        assert verdict.details["fix"] == FIXES[rule_id]
    assert outcome(verdicts, "B2C-10") is Outcome.PASS  # the redirect and JWKS still work
    headers = verdicts["B2C-07"][0].details["violations"]
    assert {line.split(":")[0] for line in headers} == {
        "A2 POST /checkout/pay",
        "A3 POST /v1/attributions",
    }
    assert "Max-Age=60 (the map states 3600)" in " ".join(
        verdicts["B2C-09"][0].details["violations"]
    )
    overall = verdicts["B2C-01"][0]
    assert overall.outcome is not Outcome.PASS
    assert all("-> needs B2C-11: " in line for line in overall.details["violations"])
    assert {line.split(":")[0] for line in overall.details["fixes_needed"]} == {
        "B2C-07", "B2C-08", "B2C-09", "B2C-11",
    }  # fmt: skip
    # The journeys still paid: A8 counting their charges as real fails the exclusions.
    exclusions = verdicts["B2C-05"][0]
    assert exclusions.outcome is Outcome.FAIL
    assert any(v.startswith("real revenue moved") for v in exclusions.details["violations"])
    assert outcome(verdicts, "B2C-06") is Outcome.PASS  # Stripe agrees with each charge
    assert_cleaned_up(run)


def test_a_misconfigured_redirect_uri_fails_at_the_callback_naming_that_fix(
    harness_target: HarnessTarget, faulty: Any, tmp_path: Path
) -> None:
    faulty({"A5": {"disabled_rules": ["redirect_uri_exact"]}})
    run = walk(harness_target, dataclasses.replace(FAULT_PLAN, evidence_dir=tmp_path))
    verdicts = verdicts_of(run, harness_target)
    redirect = verdicts["B2C-10"][0]
    assert redirect.outcome is Outcome.FAIL, redirect.summary()
    assert all("A5's callback failed" in v for v in redirect.details["violations"])
    assert all(j.first_failed_step == "b2c.activation" for j in run.first_attempts)
    overall = verdicts["B2C-01"][0]
    assert all("-> needs B2C-10: " in line for line in overall.details["violations"])
    for rule_id in ("B2C-07", "B2C-08", "B2C-09"):
        assert outcome(verdicts, rule_id) is Outcome.PASS, verdicts[rule_id][0].summary()
    # Each failing journey keeps its trace and a screenshot, with no secret in the trace.
    password = harness_target.secrets["OIDC_CLIENT_SECRET"].encode()
    for journey in run.first_attempts:
        kept = sorted(Path(name).name for name in journey.evidence)
        stem = f"b2c-journey-{journey.index:02d}-attempt1"
        assert kept == [f"{stem}.png", f"{stem}.trace.zip"]
        with zipfile.ZipFile(tmp_path / f"{stem}.trace.zip") as trace:
            contents = b"".join(trace.read(name) for name in trace.namelist())
        assert b"[REDACTED]" in contents
        assert password not in contents
    assert_cleaned_up(run)


def test_a_stripe_decline_fails_the_checkout_step(
    harness_target: HarnessTarget, faulty: Any
) -> None:
    faulty({"A2": {"disabled_rules": ["approved_test_card"]}})
    run = walk(harness_target)
    verdicts = verdicts_of(run, harness_target)
    checkout = verdicts["B2C-03"][0]
    assert checkout.outcome is Outcome.FAIL, checkout.summary()
    assert checkout.k == checkout.n == 3
    assert {j.checkout_status for j in run.first_attempts} == {"failed"}
    assert [v.k for v in verdicts["B2C-02"]] == [0, 0, 0, 0]  # every step before it succeeded
    assert_cleaned_up(run)


def test_a_tile_that_never_updates_fails(harness_target: HarnessTarget, faulty: Any) -> None:
    faulty({"A5": {"telemetry_drop_fraction": 1.0}})  # A2's money events are spooled, never dropped
    run = walk(harness_target)
    verdicts = verdicts_of(run, harness_target)
    tiles = verdicts["B2C-04"][0]
    assert tiles.outcome is Outcome.FAIL, tiles.summary()
    assert tiles.details["violations"] == [
        f"journey {j.index}: b2c.activation not on funnel-status within 10 s"
        for j in run.first_attempts
    ]
    assert all(j.ok for j in run.first_attempts)  # the browser saw every step succeed
    assert verdicts["B2C-01"][0].k == 3  # ... but a journey A8 never shows is no success
    assert_cleaned_up(run)


def test_an_interrupted_run_still_deletes_every_identity_it_created(
    harness_target: HarnessTarget,
) -> None:
    """Cancelled while its journeys are in the browser (as Ctrl-C or a pytest timeout
    would), the run deletes every identity of its plan on the way out: GET -> 404."""
    secrets = FunnelSecrets(
        a8_key=harness_target.secret("A8_TELEMETRY_KEY"),
        client_secret=harness_target.secret("OIDC_CLIENT_SECRET"),
        password=harness_target.secret("OIDC_CLIENT_SECRET"),
        stripe_key=None,
    )
    plan = dataclasses.replace(FAULT_PLAN, journeys=4, concurrency=4)

    async def interrupted() -> list[int]:
        async with harness_client(harness_target.map, env="embedded") as client:
            walking = asyncio.create_task(
                run_funnel(client, harness_target.map, secrets, plan, SystemClock())
            )
            auth = await _qa(client, harness_target)
            while not await _any_created(client, harness_target, usernames(plan), auth):
                await asyncio.sleep(0.2)  # cancel once a sign-up has created an account
            walking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await walking
            return [
                (await client.get(_identity_url(harness_target, n), headers=auth)).status_code
                for n in usernames(plan)
            ]

    assert asyncio.run(interrupted()) == [404] * 4


async def _any_created(
    client: httpx.AsyncClient, target: HarnessTarget, subjects: list[str], auth: dict[str, str]
) -> bool:
    for subject in subjects:
        if (await client.get(_identity_url(target, subject), headers=auth)).status_code == 200:
            return True
    return False


def _identity_url(target: HarnessTarget, subject: str) -> str:
    return f"{target.map.identity_base_url}/v1/synthetic-identities/{subject}"


async def _qa(client: httpx.AsyncClient, target: HarnessTarget) -> dict[str, str]:
    token = await fetch_token(client, target.map, target.secret("OIDC_CLIENT_SECRET"), None)
    return token.authorization


def test_the_named_identities_walk_once_each_without_a_rate_again_and_again(
    harness_target: HarnessTarget,
) -> None:
    """prod_observe's B2C-13: the two named identities, one journey each, nothing deleted;
    their first activation happened long ago, so a later journey does not wait for it."""
    plan = dataclasses.replace(FAULT_PLAN, named=True)
    for _ in range(2):
        run = walk(harness_target, plan)
        verdict = judge_named(run)
        assert verdict.outcome is Outcome.PASS, (verdict.summary(), verdict.details)
        assert [j.username for j in run.journeys] == ["test_student_e2e_01", "test_provider_e2e_01"]
        assert verdict.details["rate"] is None
        assert run.cleanup == ()
        assert all("b2c.activation" not in j.tile_latency_s for j in run.journeys)


def test_the_suite_passes_on_a_clean_target_and_writes_every_deliverable(
    pytester: pytest.Pytester, harness_target: HarnessTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in harness_target.secrets.items():
        monkeypatch.setenv(name, value)
    pytester.makeini(BASE_INI)
    shutil.copy(SUITE, pytester.path / "test_funnel_b2c.py")
    system_map = f"--system-map={harness_target.eco.system_map_path}"  # one argument
    result = pytester.runpytest(system_map, "-p", "no:cacheprovider", "-p", "no:xdist")
    result.assert_outcomes(passed=1, skipped=1)  # B2C-13 awaits a prod_write approval
    progress = [line for line in result.errlines if "secondconf progress: B2C journeys" in line]
    assert progress, "no progress line while the 35 journeys ran"
    reports = pytester.path / "tests/perf/reports"
    results = json.loads((reports / "b2c_funnel_results.json").read_text())
    assert results["journey_success"]["attempts"] == 35
    assert results["journey_success"]["outcome"] == "PASS"
    assert results["journey_success"]["lower_bound"] > 0.9
    assert results["tile_latency"]["p95_s"] < 60
    assert results["run"]["flaky_journeys"] == []
    log = (reports / "auth_trace_log.json").read_text()
    assert '"a1_session"' in log
    for value in harness_target.secrets.values():
        assert value not in log
