"""Phase 4 catches each money fault of the reference target, and only it (issue 11).

Against a dedicated ecosystem: clean, the suite passes every MON and LIN rule and writes
both reports; with one fault per app where they do not interfere (fees and the lineage
amount on A6, the markup on A4, the Price lock and the Stripe object on A2, synthetic
revenue on A8), exactly the rule that guards each switch FAILs, naming what it caught.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from secondconf.checks.monetization import billing, lineage, sku
from secondconf.checks.monetization.actors import SyntheticActor
from secondconf.contract.platform import SyntheticIdentity
from secondconf.core.clock import SystemClock, utc_iso
from secondconf.engine.verdict import Outcome, Verdict
from secondconf.target.a8 import A8Client
from secondconf.target.client import harness_client, harness_sync_client
from secondconf.target.identity import fetch_token
from secondconf.target.stripe_api import StripeReader

from tests.harness.conftest import HarnessTarget
from tests.plugin.conftest import BASE_INI

SUITE = Path(__file__).parents[2] / "suites" / "test_monetization.py"
RULES = ("MON-01", "MON-02", "MON-03", "MON-04", "LIN-01", "LIN-02", "LIN-03")

# app -> the reference rules turned off there, and the one check each must fail
FAULTS = {
    "A2": ["sku_resolve_lock", "lineage_stripe_object"],
    "A4": ["markup"],
    "A6": ["fee_rounding", "lineage_amount"],
    "A8": ["synthetic_apart"],
}
CAUGHT_BY = {
    "fee_rounding": "MON-01",
    "markup": "MON-02",
    "sku_resolve_lock": "MON-04",
    "lineage_stripe_object": "LIN-01",
    "lineage_amount": "LIN-01",
    "synthetic_apart": "LIN-02",
}


@contextlib.contextmanager
def faults_on(target: HarnessTarget, faults: dict[str, list[str]]) -> Iterator[None]:
    for app_id, rules in faults.items():
        target.set_faults(app_id, {"disabled_rules": rules})
    try:
        yield
    finally:
        for app_id in faults:
            target.set_faults(app_id, {"disabled_rules": []})


def measure(target: HarnessTarget) -> dict[str, Verdict]:
    """Every money check once, as the suite runs them: rule id -> verdict."""
    clock = SystemClock()
    since = clock.now() - timedelta(seconds=5)
    budget = billing.BillingBudget()
    secret = target.secret("OIDC_CLIENT_SECRET")
    run = lineage.LineageRun(window_start=utc_iso(since))

    async def dashboard() -> dict[str, Any]:
        async with harness_client(target.map, env="embedded") as client:
            a8 = A8Client(client, target.map, target.secret("A8_TELEMETRY_KEY"))
            return await a8.dashboard(lineage.DASHBOARD)

    run.before = asyncio.run(dashboard())
    with harness_sync_client(target.map, env="embedded", timeout_s=10.0) as sync:
        provider = SyntheticActor(sync, target.map, secret, SyntheticIdentity.PROVIDER)
        student = SyntheticActor(sync, target.map, secret, SyntheticIdentity.STUDENT)
        driver = billing.BillingDriver(provider, student)
        assert driver.register() is None
        exploration = driver.explore(budget)
        lineage.make_money(provider, student, clock, run)

    async def observe() -> list[Verdict]:
        async with harness_client(target.map, env="embedded") as client:
            a8 = A8Client(client, target.map, target.secret("A8_TELEMETRY_KEY"))
            stripe = StripeReader(client, target.map, target.secret("STRIPE_SECRET_KEY"))
            traces = [case.sent.trace_id for case in exploration.billed]
            events = await billing.billed_events(a8, traces, since, clock, 20.0)
            billing.with_a8_metrics(exploration, events)
            token = await fetch_token(client, target.map, secret, SyntheticIdentity.STUDENT)
            skus = sku.SkuClient(client, target.map, token)
            return [
                billing.judge_fee(exploration, budget),
                billing.judge_markup(exploration, budget),
                await sku.check_catalog_prices(skus, stripe),
                await sku.check_concurrent_resolves(skus, stripe),
                *await lineage.observe(a8, stripe, run, since, clock),
            ]

    return {str(v.details["rule"]): v for v in asyncio.run(observe())}


def test_a_clean_run_passes_and_writes_both_reports(
    pytester: pytest.Pytester, harness_target: HarnessTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in harness_target.secrets.items():
        monkeypatch.setenv(name, value)
    pytester.makeini(BASE_INI)
    shutil.copy(SUITE, pytester.path / "test_monetization.py")
    result = pytester.runpytest_subprocess(
        f"--system-map={harness_target.eco.system_map_path}",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
    )
    result.assert_outcomes(passed=3)
    reports = pytester.path / "tests" / "perf" / "reports"
    billing_md = (reports / "billing_logic_verification.md").read_text()
    lineage_md = (reports / "a8_data_lineage.md").read_text()
    for rule_id in RULES[:4]:
        assert f"| {rule_id} " in billing_md
    assert billing_md.count("**PASS**") == 4
    assert "| boundary | 150 | yes | 5 | 5 | 5 |" in billing_md
    assert "Minimal failing example: none" in billing_md
    assert lineage_md.count("**PASS**") == 3
    assert lineage_md.count("| joined |") == len(lineage.BILLING_GROSS_CENTS) + lineage.CHECKOUTS


def test_each_money_fault_fails_exactly_its_check(harness_target: HarnessTarget) -> None:
    with faults_on(harness_target, FAULTS):
        verdicts = measure(harness_target)
    assert set(verdicts) == set(RULES)
    failing = {rule for rule, v in verdicts.items() if v.outcome is not Outcome.PASS}
    assert failing == set(CAUGHT_BY.values())
    assert all(verdicts[rule].outcome is Outcome.FAIL for rule in failing)

    fee = verdicts["MON-01"]
    assert fee.details["minimal_failing_example"]["gross_cents"] == 50  # 1.5 truncated to 1
    assert (
        "gross 150: in A6's answer: fee_cents 4, the model says 5" in fee.details["violations"][1]
    )
    markup = verdicts["MON-02"]
    assert all(v.startswith("A4 ") for v in markup.details["violations"])  # A6's still 4x
    assert markup.details["minimal_failing_example"]["app"] == "A4"
    race = verdicts["MON-04"]
    assert len(race.details["stripe_prices"]) == sku.CONCURRENT_RESOLVES
    joins = verdicts["LIN-01"].details["violations"]
    a2 = [v for v in joins if v.startswith("A2 ")]
    a6 = [v for v in joins if v.startswith("A6 ")]
    assert len(a2) == lineage.CHECKOUTS
    assert all("names no Stripe object" in v for v in a2)
    assert len(a6) == len(lineage.BILLING_GROSS_CENTS)
    assert all("Stripe charged" in v for v in a6)
    synthetic = verdicts["LIN-02"].details["violations"]
    assert sum("counted as real revenue" in v for v in synthetic) == len(joins)
    assert any(v.startswith("real usd revenue moved by") for v in synthetic)
