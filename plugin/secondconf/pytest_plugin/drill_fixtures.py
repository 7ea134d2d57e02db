"""The phase-7 drills' fixtures: the drills run once per session, each test reads its own.

``embedded``: the drills need no approval, every change is logged as an action.
``staging``: only under a valid ``inject_503`` approval (its use is logged with the first
change); without one every drill is skipped naming the gate, counted as awaiting approval.
``prod_observe``: the drills are not ``prod_safe``, so the plugin skips them before this.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pytest

from secondconf.pytest_plugin.fixtures import _shared_dir, logged_control, measure_once
from secondconf.pytest_plugin.state import (
    CLOCK_KEY,
    DELIBERATE_SKIP_KEY,
    RUN_INFO_KEY,
    SETTINGS_KEY,
)

if TYPE_CHECKING:
    from secondconf.checks.resiliency.drills import ProbePlan
    from secondconf.checks.resiliency.run import DrillsRun
    from secondconf.engine.verdict import Verdict
    from secondconf.target.deployment import Target

DRILLS_TEST_ID = "phase 7 resiliency drills"
DRILL_TELEMETRY_DEADLINE_S = 2.0
"""A8's deadline inside a drill window. The drills judge the probes only (no A8 verdict is
among theirs), so a window waits no longer for events a killed or restarted process never
sent: with 10 s each process drill's window waited out the whole deadline."""


@pytest.fixture(scope="session")
def _resiliency_run(
    pytestconfig: pytest.Config, target: Target, tmp_path_factory: pytest.TempPathFactory
) -> DrillsRun:
    from secondconf.checks.liveness.measure import LivenessPlan, measure_liveness
    from secondconf.checks.resiliency.drills import DrillTarget
    from secondconf.checks.resiliency.ledger import FaultLedger
    from secondconf.checks.resiliency.run import DRILLS_SECTION, DrillsRun, run_drills
    from secondconf.pytest_plugin.progress import terminal_progress
    from secondconf.target.a8 import A8Client
    from secondconf.target.client import harness_client
    from secondconf.target.deployment import TargetError

    settings, clock = pytestconfig.stash[SETTINGS_KEY], pytestconfig.stash[CLOCK_KEY]
    control = logged_control(pytestconfig, target, DRILLS_TEST_ID)
    if isinstance(control, str):
        return DrillsRun(skip_reason=control)
    try:
        a8_key = target.secret("A8_TELEMETRY_KEY")
    except TargetError as error:
        pytest.fail(str(error), pytrace=False)

    async def run() -> DrillsRun:
        async with harness_client(target.system_map, env=settings.env.value) as client:
            a8 = A8Client(client, target.system_map, a8_key)

            async def measure(
                app_ids: Sequence[str], plan: ProbePlan
            ) -> Mapping[str, Sequence[Verdict]]:
                liveness = LivenessPlan(
                    burn_in_s=plan.burn_in_s,
                    window_s=plan.window_s,
                    rate_per_target=plan.rate_per_target,
                    slice_s=plan.slice_s,
                    method=settings.method,
                    confidence=settings.confidence,
                    telemetry_deadline_s=min(
                        DRILL_TELEMETRY_DEADLINE_S, settings.telemetry_deadline_s
                    ),
                )
                result = await measure_liveness(
                    client, target.system_map, a8, liveness, clock, app_ids
                )
                return result.verdicts

            drill_target = DrillTarget(
                system_map=target.system_map,
                faults=control,
                processes=target.processes,
                ledger=FaultLedger.beside(settings.hitl_log),
                client=client,
                clock=clock,
                test_id=DRILLS_TEST_ID,
            )
            return await run_drills(
                drill_target, measure, progress=terminal_progress(pytestconfig, clock)
            )

    result = measure_once(
        _shared_dir(tmp_path_factory) / "resiliency.json",
        lambda: asyncio.run(run()),
        DrillsRun.to_dict,
        DrillsRun.from_dict,
    )
    pytestconfig.stash[RUN_INFO_KEY][DRILLS_SECTION] = result.to_dict()
    return result


@pytest.fixture
def resiliency_drills(request: pytest.FixtureRequest, _resiliency_run: DrillsRun) -> DrillsRun:
    """The session's drills; a check is skipped (awaiting approval) when they could not run."""
    if _resiliency_run.skip_reason is not None:
        request.node.stash[DELIBERATE_SKIP_KEY] = True
        pytest.skip(_resiliency_run.skip_reason)
    return _resiliency_run
