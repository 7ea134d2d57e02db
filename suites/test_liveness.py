"""Phase 1: every app is alive by two independent sources (probes and A8's telemetry).

The measurement runs once per session (``liveness_run``; under xdist one worker measures
and the others read its result), over one burn-in and one stable window, for all apps at
once. Each app's check records that app's verdicts: error rate and p95 from the probes and
from A8, their AND, and telemetry completeness.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from secondconf.checks.liveness.measure import LivenessResult
from secondconf.contract.platform import APP_IDS
from secondconf.engine.verdict import Verdict
from secondconf.reports.charts import latency_chart
from secondconf.reports.liveness import latency_rows

pytestmark = [
    pytest.mark.second_confirmation,
    pytest.mark.liveness,
    pytest.mark.phase(1),
    pytest.mark.prod_safe,
]


@pytest.mark.parametrize("app_id", [pytest.param(a, marks=pytest.mark.app(a)) for a in APP_IDS])
def test_dual_source_liveness(
    app_id: str,
    liveness_run: LivenessResult,
    record_verdict: Callable[[Verdict], Verdict],
    attach_chart: Callable[[str, Callable[[], bytes]], None],
) -> None:
    verdicts = liveness_run.for_app(app_id)
    attach_chart(
        f"{app_id} p95 latency",
        lambda: latency_chart(latency_rows(app_id, verdicts), f"{app_id}: p95 latency by source"),
    )
    for verdict in verdicts:
        record_verdict(verdict)
