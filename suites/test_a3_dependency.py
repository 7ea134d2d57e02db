"""Phase 7: A3 under dependency faults (contract §9, §13), rule DEP-01.

Three A3 runs watched through a healthy baseline (3 s), 15 s with 503s on half of A4's
requests (set and rolled back through the logged fault control, so both are actions in
the HITL log; in ``staging`` only under an ``inject_503`` approval, else skipped naming
the gate) and 4 s after A4 recovers. Three verdicts
(:mod:`secondconf.checks.resiliency.a3_judge`): the cycles that met a failure heal (the
unhealed share < 20 % by its upper Wilson 95 % bound), the run goes on without
intervention, and A3 is healthy once A4 is back. The figures go to
``a3_resiliency_report.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from secondconf.checks.resiliency.a3_judge import judge_a3_under_a4
from secondconf.checks.resiliency.a3_under_a4 import (
    A3_UNDER_A4_SECTION,
    DependencyPlan,
    DependencyRun,
    run_a3_under_a4,
)
from secondconf.core.clock import Clock
from secondconf.engine.verdict import Verdict
from secondconf.pytest_plugin.fixtures import StudentScenario
from secondconf.target.a8 import A8Client
from secondconf.target.control import ControlError, TargetControl
from secondconf.target.deployment import Target
from secondconf.target.identity import AccessToken

pytestmark = [pytest.mark.second_confirmation, pytest.mark.resiliency, pytest.mark.phase(7)]


@pytest.mark.app("A3")
@pytest.mark.rules("DEP-01")
def test_a3_under_a4_503s(
    target: Target,
    clock: Clock,
    as_student: StudentScenario,
    resiliency_control: TargetControl,
    exclusive_target_load: None,
    run_info: dict[str, Any],
    record_verdict: Callable[[Verdict], Verdict],
) -> None:
    async def scenario(
        client: httpx.AsyncClient, _a8: A8Client, token: AccessToken
    ) -> DependencyRun:
        return await run_a3_under_a4(
            client, target.system_map, token, resiliency_control, clock, DependencyPlan()
        )

    label = "A3 under A4's 503s"
    try:
        run = as_student(label, scenario)
    except ControlError as error:
        pytest.fail(f"{label}: {error}", pytrace=False)
    run_info[A3_UNDER_A4_SECTION] = run.to_dict()
    for verdict in judge_a3_under_a4(run):
        record_verdict(verdict)
