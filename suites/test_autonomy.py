"""Phase 6, A3's autonomy (contract §12, §13): a run of more than 200 minutes of A3's clock.

One scenario (:func:`secondconf.checks.autonomy.scenario.run_autonomy`): a run of 22
cycles 10 minutes apart (210 minutes) watched step by step, a second run whose autonomous
count an intervention must restart, and a page built, published and viewed on A7. Under
clock control (``fault_control``: A3's ``clock_offset_s`` moved 10 minutes per step, each
move an action in the HITL log, put back at the end) it takes seconds of wall time; the
real soak (``--autonomy-soak 200m``, marker ``slow``) runs the same check in real time.
The five verdicts (:mod:`secondconf.checks.autonomy.judge`):

* AUT-01: more than 200 autonomous minutes, no manual intervention, the count stops at
  the end;
* AUT-02: every cycle's run_progress (> 0) and orchestration_cycle_complete in A8 within 60 s;
* AUT-03: a stalled run is detected (a FAIL pages: ``a3_run_stalled``);
* AUT-04: page_published and cta_emitted in A8 within 60 s;
* AUT-05: a manual intervention restarts the autonomous count.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from secondconf.checks.autonomy.judge import judge_autonomy
from secondconf.checks.autonomy.model import AutonomyPlan, AutonomyRun
from secondconf.checks.autonomy.scenario import run_autonomy
from secondconf.checks.autonomy.timeline import MovedClock, RealTime, Timeline
from secondconf.core.clock import Clock
from secondconf.core.progress import ProgressThrottle
from secondconf.engine.verdict import Verdict
from secondconf.pytest_plugin.deliberate import selected, skip_covered_elsewhere
from secondconf.pytest_plugin.fixtures import StudentScenario
from secondconf.settings import HarnessSettings
from secondconf.target.a8 import A8Client
from secondconf.target.control import TargetControl
from secondconf.target.deployment import Target
from secondconf.target.identity import AccessToken

pytestmark = [pytest.mark.second_confirmation, pytest.mark.autonomy, pytest.mark.phase(6)]

RecordVerdict = Callable[[Verdict], Verdict]
RULES = ("AUT-01", "AUT-02", "AUT-03", "AUT-04", "AUT-05")


def play(
    as_student: StudentScenario,
    target: Target,
    settings: HarnessSettings,
    clock: Clock,
    timeline: Timeline,
    plan: AutonomyPlan,
) -> list[Verdict]:
    """The scenario on ``timeline``, judged."""

    async def scenario(client: httpx.AsyncClient, a8: A8Client, token: AccessToken) -> AutonomyRun:
        return await run_autonomy(
            client,
            target.system_map,
            a8,
            token,
            timeline,
            clock,
            plan,
            deadline_s=settings.telemetry_deadline_s,
        )

    run = as_student("autonomy scenario", scenario)
    return judge_autonomy(run, settings.telemetry_deadline_s)


@pytest.mark.rules(*RULES)
def test_autonomy_under_clock_control(
    request: pytest.FixtureRequest,
    as_student: StudentScenario,
    target: Target,
    settings: HarnessSettings,
    clock: Clock,
    fault_control: TargetControl | None,
    exclusive_target_load: None,
    record_verdict: RecordVerdict,
) -> None:
    """210 minutes of A3's clock in seconds of wall time."""
    if fault_control is None:
        if settings.autonomy_soak_s is not None and selected(request, "test_autonomy_real_soak"):
            skip_covered_elsewhere(
                request, "clock-control variant: no clock control, the soak runs"
            )
        pytest.fail(
            "A3's clock cannot be moved here (no fault control or no inject_503 approval): "
            "run the real soak with --autonomy-soak 200m",
            pytrace=False,
        )
    for verdict in play(
        as_student, target, settings, clock, MovedClock(fault_control), AutonomyPlan.gate()
    ):
        record_verdict(verdict)


@pytest.mark.slow
@pytest.mark.rules(*RULES)
def test_autonomy_real_soak(
    request: pytest.FixtureRequest,
    as_student: StudentScenario,
    target: Target,
    settings: HarnessSettings,
    clock: Clock,
    record_verdict: RecordVerdict,
    phase_progress: ProgressThrottle | None,
) -> None:
    """The same check in real time: ``--autonomy-soak 200m`` (about 210 minutes)."""
    if settings.autonomy_soak_s is None:
        if selected(request, "test_autonomy_under_clock_control"):
            skip_covered_elsewhere(request, "real soak: not asked for (--autonomy-soak)")
        pytest.fail("the real soak needs --autonomy-soak, e.g. 200m", pytrace=False)
    plan = AutonomyPlan.soak(settings.autonomy_soak_s)
    real_time = RealTime(progress=phase_progress, total_s=plan.run_minutes * 60.0)
    for verdict in play(as_student, target, settings, clock, real_time, plan):
        record_verdict(verdict)
