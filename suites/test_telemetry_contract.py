"""Phase 3, telemetry contract (§6): what A8 holds, how it was sampled, and A8's dedupe.

* TEL-01: every required event name appears in A8, every stored event of the session's
  traffic window has every schema field with its type.
* TEL-02: every stored event's ``sample_rate`` is §6's rule, and probes with trace ids
  the harness chose are held by A8 exactly when they must be.
* TEL-03: A8 stores a keyed event once per (event, app_id, idempotency key, trace id)
  within 15 minutes, and an unkeyed one once per ``event_id``.

TEL-01 and TEL-02 read the window of ``hardening_run`` (every mutating route of every app
exercised once, which causes the required events): the checks never rely on whatever
traffic happened to pass. TEL-03 posts synthetic, labelled events to A8's ingest, so none
of them is ``prod_safe``. The logic lives in :mod:`secondconf.checks.telemetry.schema`,
:mod:`secondconf.checks.telemetry.sampling` and :mod:`secondconf.checks.telemetry.dedupe`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

import httpx
import pytest
from secondconf.checks.hardening.model import HardeningRun
from secondconf.checks.telemetry.dedupe import check_dedupe
from secondconf.checks.telemetry.sampling import check_sampling
from secondconf.checks.telemetry.schema import check_event_schema
from secondconf.contract.platform import SyntheticIdentity
from secondconf.core.clock import Clock
from secondconf.engine.verdict import Verdict
from secondconf.settings import HarnessSettings
from secondconf.target.a8 import A8Client
from secondconf.target.client import synthetic_headers
from secondconf.target.control import TargetControl
from secondconf.target.deployment import Target

pytestmark = [
    pytest.mark.second_confirmation,
    pytest.mark.idempotency,
    pytest.mark.phase(3),
]

RecordVerdict = Callable[[Verdict], Verdict]
RunAsync = Callable[[Coroutine[Any, Any, Verdict]], Verdict]


def window_start(hardening_run: HardeningRun) -> datetime:
    """When the session's traffic began (the hardening run's start)."""
    return datetime.fromisoformat(hardening_run.started_at)


@pytest.mark.rules("TEL-01")
def test_tel01_required_events_with_every_schema_field(
    hardening_run: HardeningRun,
    a8: A8Client,
    clock: Clock,
    run_async: RunAsync,
    record_verdict: RecordVerdict,
) -> None:
    record_verdict(run_async(check_event_schema(a8, window_start(hardening_run), clock)))


@pytest.mark.rules("TEL-02")
def test_tel02_sampling_by_trace_id(
    hardening_run: HardeningRun,
    target: Target,
    settings: HarnessSettings,
    async_client: httpx.AsyncClient,
    a8: A8Client,
    clock: Clock,
    run_async: RunAsync,
    record_verdict: RecordVerdict,
) -> None:
    sampling = check_sampling(
        async_client,
        target.system_map,
        a8,
        window_start(hardening_run),
        clock,
        deadline_s=settings.telemetry_deadline_s,
    )
    record_verdict(run_async(sampling))


@pytest.mark.rules("TEL-03")
def test_tel03_a8_dedupe(
    target: Target,
    settings: HarnessSettings,
    fault_control: TargetControl | None,
    a8: A8Client,
    clock: Clock,
    run_async: RunAsync,
    exclusive_target_load: None,
    record_verdict: RecordVerdict,
) -> None:
    dedupe = check_dedupe(
        a8,
        target.system_map.env,
        clock,
        deadline_s=settings.telemetry_deadline_s,
        synthetic=synthetic_headers(SyntheticIdentity.STUDENT),
        control=fault_control,
    )
    record_verdict(run_async(dedupe))
