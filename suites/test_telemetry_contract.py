"""Phase 3, telemetry contract (§6): what A8 holds, how it was sampled, and A8's dedupe.

* TEL-01: every required event name appears in A8, every stored event of the session's
  traffic window has every schema field with its type.
* TEL-02: every stored event's ``sample_rate`` is §6's rule, and probes with trace ids
  the harness chose are held by A8 exactly when they must be.
* TEL-03: A8 stores (event, idempotency key, trace id) once within 15 minutes.

TEL-01 and TEL-02 read the window of ``hardening_run`` (every mutating route of every app
exercised once, which causes the required events): the checks never rely on whatever
traffic happened to pass. TEL-03 posts synthetic, labelled events to A8's ingest, so none
of them is ``prod_safe``. The logic lives in :mod:`secondconf.checks.telemetry.schema`,
:mod:`secondconf.checks.telemetry.sampling` and :mod:`secondconf.checks.telemetry.dedupe`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

import allure
import httpx
import pytest
from secondconf.checks.hardening.model import HardeningRun
from secondconf.checks.telemetry.dedupe import check_dedupe
from secondconf.checks.telemetry.sampling import check_sampling
from secondconf.checks.telemetry.schema import check_event_schema
from secondconf.contract.platform import SyntheticIdentity
from secondconf.core.clock import SystemClock
from secondconf.engine.verdict import Verdict
from secondconf.pytest_plugin.state import SETTINGS_KEY
from secondconf.target.a8 import A8Client
from secondconf.target.client import harness_client, synthetic_headers
from secondconf.target.control import TargetControl
from secondconf.target.deployment import Target, TargetError

pytestmark = [
    pytest.mark.second_confirmation,
    pytest.mark.idempotency,
    pytest.mark.phase(3),
]

Body = Callable[[httpx.AsyncClient, A8Client], Awaitable[Verdict]]


def window_start(hardening_run: HardeningRun) -> datetime:
    """When the session's traffic began (the hardening run's start)."""
    return datetime.fromisoformat(hardening_run.started_at.replace("Z", "+00:00"))


def run_check(target: Target, pytestconfig: pytest.Config, body: Body) -> Verdict:
    env = pytestconfig.stash[SETTINGS_KEY].env.value
    try:
        a8_key = target.secret("A8_TELEMETRY_KEY")
    except TargetError as error:
        pytest.fail(str(error), pytrace=False)

    async def run() -> Verdict:
        async with harness_client(target.system_map, env=env) as client:
            a8 = A8Client(client, target.system_map, a8_key)
            return await body(client, a8)

    return asyncio.run(run())


def record(verdict: Verdict, record_verdict: Callable[[Verdict], Verdict]) -> None:
    allure.dynamic.label("phase", "3")
    allure.dynamic.label("app", "A8")
    allure.dynamic.label("check", "telemetry-contract")
    with allure.step(f"{verdict.check} [{verdict.source}]: {verdict.outcome.value}"):
        lines = [
            verdict.summary(),
            *verdict.details.get("violations", ()),
            *(f"untested: {u}" for u in verdict.details.get("untested", ())),
        ]
        allure.attach(
            "\n".join(lines), name=verdict.check, attachment_type=allure.attachment_type.TEXT
        )
    record_verdict(verdict)


def test_tel01_required_events_with_every_schema_field(
    hardening_run: HardeningRun,
    target: Target,
    pytestconfig: pytest.Config,
    record_verdict: Callable[[Verdict], Verdict],
) -> None:
    since = window_start(hardening_run)
    verdict = run_check(
        target, pytestconfig, lambda _, a8: check_event_schema(a8, since, SystemClock())
    )
    record(verdict, record_verdict)


def test_tel02_sampling_by_trace_id(
    hardening_run: HardeningRun,
    target: Target,
    pytestconfig: pytest.Config,
    record_verdict: Callable[[Verdict], Verdict],
) -> None:
    since = window_start(hardening_run)
    deadline_s = pytestconfig.stash[SETTINGS_KEY].telemetry_deadline_s
    verdict = run_check(
        target,
        pytestconfig,
        lambda client, a8: check_sampling(
            client, target.system_map, a8, since, SystemClock(), deadline_s=deadline_s
        ),
    )
    record(verdict, record_verdict)


def test_tel03_a8_dedupe(
    target: Target,
    fault_control: TargetControl | None,
    pytestconfig: pytest.Config,
    exclusive_target_load: None,
    record_verdict: Callable[[Verdict], Verdict],
) -> None:
    settings = pytestconfig.stash[SETTINGS_KEY]
    verdict = run_check(
        target,
        pytestconfig,
        lambda _, a8: check_dedupe(
            a8,
            target.system_map.env,
            SystemClock(),
            deadline_s=settings.telemetry_deadline_s,
            synthetic=synthetic_headers(SyntheticIdentity.STUDENT),
            control=fault_control,
        ),
    )
    record(verdict, record_verdict)
