"""Phase 7: resiliency drills, one app and one fault at a time (contract §9, §13).

The drills run once per session (``resiliency_drills``): 503s on half of A2's requests,
400 ms added to A3's, A4 killed, A5 restarted, A6 cold-started. Each check records its
drill's verdicts: the faulted app detected (its liveness FAILs), the other apps
contained (their pooled probes keep the SLO, with bounds), and the app healthy again
within its recovery limit; with Allure, the drill's chart is attached. Every fault is
rolled back, also when the check fails; in ``staging`` the drills run only under an
``inject_503`` approval.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from secondconf.checks.resiliency.drills import DRILLS, DrillSpec
from secondconf.checks.resiliency.run import DrillsRun
from secondconf.engine.verdict import Verdict
from secondconf.reports.drill_chart import drills_chart

pytestmark = [pytest.mark.second_confirmation, pytest.mark.resiliency, pytest.mark.phase(7)]


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(
            s, id=s.rule_id, marks=[pytest.mark.app(s.app_id), pytest.mark.rules(s.rule_id)]
        )
        for s in DRILLS
    ],
)
def test_drill(
    spec: DrillSpec,
    resiliency_drills: DrillsRun,
    record_verdict: Callable[[Verdict], Verdict],
    attach_chart: Callable[[str, Callable[[], bytes]], None],
) -> None:
    result = resiliency_drills.result(spec.rule_id)
    attach_chart(
        "detection, recovery, containment",
        lambda: drills_chart([result], f"{spec.rule_id}: detection, recovery, containment"),
    )
    for verdict in result.verdicts:
        record_verdict(verdict)
