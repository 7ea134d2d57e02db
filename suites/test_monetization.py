"""Phase 4, money (contract §7, §11): billing logic, the micro SKU and revenue lineage.

* MON-01, MON-02: A6 billing of a synthetic provider over every half-cent boundary and
  Hypothesis-generated amounts (derandomized: the same cases every run), A6's answers and
  A8's ``provider_billed`` against the harness's money model; A4 work billed at 4×.
* MON-03, MON-04: each catalog item's micro SKU Price read from Stripe by lookup key; N
  concurrent resolves of a fresh lookup key leave one Price.
* LIN-01 … LIN-03: the harness's own synthetic money (A6 billings, A2 micro-charges)
  joined through A8 to its source events and to Stripe; synthetic never in the real
  totals; the revenue-lineage tiles within 60 s.

Every check creates the money it checks (charges on the target's Stripe), so none is
``prod_safe``. The logic lives in :mod:`secondconf.checks.monetization`; the deliverables
``billing_logic_verification.md`` and ``a8_data_lineage.md`` are written from these
verdicts by :mod:`secondconf.reports.monetization`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

import httpx
import pytest
from secondconf.checks.monetization import billing, lineage, sku
from secondconf.checks.monetization.actors import ActorError, SyntheticActor
from secondconf.contract.platform import SyntheticIdentity
from secondconf.core.clock import Clock, utc_iso
from secondconf.core.secret import Secret
from secondconf.engine.verdict import Verdict
from secondconf.settings import HarnessSettings
from secondconf.target.a8 import A8Client, TelemetryError
from secondconf.target.deployment import Target
from secondconf.target.identity import TokenError, fetch_token
from secondconf.target.stripe_api import StripeReader

pytestmark = [
    pytest.mark.second_confirmation,
    pytest.mark.monetization,
    pytest.mark.phase(4),
]

RecordVerdict = Callable[[Verdict], Verdict]
RunAsync = Callable[[Coroutine[Any, Any, Any]], Any]
SecretOf = Callable[[str], Secret]
Actors = tuple[SyntheticActor, SyntheticActor]
# Before the first request: A8 stamps an event with the app's clock, which may run a
# little behind the harness's.
CLOCK_SLACK = timedelta(seconds=5)


@pytest.fixture
def actors(target: Target, sync_client: httpx.Client, secret: SecretOf) -> Actors:
    """The synthetic provider and student, each with its A1 token."""
    client_secret = secret("OIDC_CLIENT_SECRET")
    try:
        return (
            SyntheticActor(
                sync_client, target.system_map, client_secret, SyntheticIdentity.PROVIDER
            ),
            SyntheticActor(
                sync_client, target.system_map, client_secret, SyntheticIdentity.STUDENT
            ),
        )
    except ActorError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture
def stripe(target: Target, async_client: httpx.AsyncClient, secret: SecretOf) -> StripeReader:
    """The target's Stripe, read with its secret key (by name)."""
    return StripeReader(async_client, target.system_map, secret("STRIPE_SECRET_KEY"))


@pytest.mark.rules("MON-01", "MON-02")
def test_billing_logic(
    actors: Actors,
    a8: A8Client,
    settings: HarnessSettings,
    clock: Clock,
    run_async: RunAsync,
    record_verdict: RecordVerdict,
) -> None:
    since = clock.now() - CLOCK_SLACK
    budget = billing.BillingBudget()
    driver = billing.BillingDriver(*actors)
    try:
        problem = driver.register()
        if problem is not None:
            pytest.fail(f"the synthetic provider could not register: {problem}", pytrace=False)
        exploration = driver.explore(budget)
        traces = [case.sent.trace_id for case in exploration.billed]
        events = run_async(
            billing.billed_events(a8, traces, since, clock, settings.telemetry_deadline_s)
        )
    except (ActorError, TelemetryError) as error:
        pytest.fail(str(error), pytrace=False)
    billing.with_a8_metrics(exploration, events)
    record_verdict(billing.judge_fee(exploration, budget))
    record_verdict(billing.judge_markup(exploration, budget))


@pytest.mark.rules("MON-03", "MON-04")
def test_micro_sku(
    target: Target,
    async_client: httpx.AsyncClient,
    stripe: StripeReader,
    secret: SecretOf,
    run_async: RunAsync,
    record_verdict: RecordVerdict,
) -> None:
    try:
        token = run_async(
            fetch_token(
                async_client,
                target.system_map,
                secret("OIDC_CLIENT_SECRET"),
                SyntheticIdentity.STUDENT.value,
            )
        )
    except TokenError as error:
        pytest.fail(str(error), pytrace=False)
    skus = sku.SkuClient(async_client, target.system_map, token)
    record_verdict(run_async(sku.check_catalog_prices(skus, stripe)))
    record_verdict(run_async(sku.check_concurrent_resolves(skus, stripe)))


@pytest.mark.rules("LIN-01", "LIN-02", "LIN-03")
def test_revenue_lineage(
    actors: Actors,
    a8: A8Client,
    stripe: StripeReader,
    clock: Clock,
    run_async: RunAsync,
    record_verdict: RecordVerdict,
) -> None:
    since = clock.now() - CLOCK_SLACK
    run = lineage.LineageRun(window_start=utc_iso(since))
    try:
        run.before = run_async(a8.dashboard(lineage.DASHBOARD))
        lineage.make_money(*actors, clock, run)
    except (ActorError, TelemetryError) as error:
        pytest.fail(str(error), pytrace=False)
    for verdict in run_async(lineage.observe(a8, stripe, run, since, clock)):
        record_verdict(verdict)
