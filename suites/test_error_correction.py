"""Error correction (contract §8, §13): A5's calls to A4 while A4 answers 503.

One scenario (:func:`secondconf.checks.error_correction.scenario.run_error_correction`):
A4's ``error_503_fraction`` fault (through ``fault_control``: logged as an action, behind
``inject_503`` outside ``embedded``, always rolled back) under 40 A5 spends released
together, one spend while the breaker is open, a probe once the fault is gone and A5's
clock has passed the breaker's ``Retry-After``, then an A3 run whose first attempt of each
cycle fails. The four verdicts, from A8's ``retry_attempted`` and ``circuit_*`` events and
A3's record (:mod:`secondconf.checks.error_correction.judge`):

* ERR-01: delays follow full jitter (KS test), no point mass at the cap;
* ERR-02: backoff doubles per retry and stops at its cap;
* ERR-03: breaker closed -> open -> half-open (probe) -> closed, each transition an event;
* ERR-04: a failed A3 cycle heals itself.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from secondconf.checks.error_correction.judge import judge_error_correction
from secondconf.checks.error_correction.model import ErrorCorrectionRun
from secondconf.checks.error_correction.scenario import run_error_correction
from secondconf.core.clock import Clock
from secondconf.engine.verdict import Verdict
from secondconf.pytest_plugin.fixtures import StudentScenario
from secondconf.settings import HarnessSettings
from secondconf.target.a8 import A8Client
from secondconf.target.control import TargetControl
from secondconf.target.deployment import Target
from secondconf.target.identity import AccessToken

pytestmark = [pytest.mark.second_confirmation, pytest.mark.resiliency, pytest.mark.phase(6)]

RecordVerdict = Callable[[Verdict], Verdict]


@pytest.mark.rules("ERR-01", "ERR-02", "ERR-03", "ERR-04")
def test_error_correction_under_a4_503(
    as_student: StudentScenario,
    target: Target,
    settings: HarnessSettings,
    clock: Clock,
    fault_control: TargetControl | None,
    exclusive_target_load: None,
    record_verdict: RecordVerdict,
) -> None:
    async def scenario(
        client: httpx.AsyncClient, a8: A8Client, token: AccessToken
    ) -> ErrorCorrectionRun:
        return await run_error_correction(
            client,
            target.system_map,
            a8,
            token,
            fault_control,
            clock,
            deadline_s=settings.telemetry_deadline_s,
        )

    run = as_student("error-correction scenario", scenario)
    for verdict in judge_error_correction(run):
        record_verdict(verdict)
