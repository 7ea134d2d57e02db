"""Phase 2: baseline load (≤ 20 virtual users) on the read paths of every app.

locust runs in its own process (``.venv-locust``; never imported here) against each app's
``/health`` and ``/ready`` and A1's discovery document and key set; every endpoint is
judged on its own: error rate < 1 % by the decision bounds and p95 ≤ 120 ms by order
statistics on locust's histogram (rounding-safe, see ``secondconf.checks.load.baseline``).
locust and the profile are found from the project root (pytest's rootdir).

20 users at 10 requests/s each is 200 requests/s in all, which the embedded default on
two cores carries without saturating the machine; 40 s gives each of the 18 endpoints
about 440 requests, above the 381 a clean endpoint needs for an error-rate PASS.
More than 60 users needs a HITL approval for ``load_over_60_vus``; the marker follows.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from secondconf.checks.load.baseline import (
    HITL_GATE,
    MAX_USERS_WITHOUT_APPROVAL,
    run_baseline,
)
from secondconf.checks.load.locust import BaselineError, baseline_locustfile, locust_bin
from secondconf.core.progress import ProgressThrottle
from secondconf.engine.verdict import Verdict
from secondconf.reports.baseline import BASELINE_SECTION
from secondconf.reports.charts import ChartRow, latency_chart
from secondconf.settings import HarnessSettings
from secondconf.target.deployment import Target

BASELINE_USERS = 20
BASELINE_SPAWN_RATE = 20.0
BASELINE_DURATION_S = 40.0
BASELINE_RATE_PER_USER = 10.0

pytestmark = [
    pytest.mark.second_confirmation,
    pytest.mark.load,
    pytest.mark.phase(2),
    *([pytest.mark.hitl(gate=HITL_GATE)] if BASELINE_USERS > MAX_USERS_WITHOUT_APPROVAL else []),
]


@pytest.mark.usefixtures("exclusive_target_load")  # never during phase 1's window
def test_baseline_load(
    request: pytest.FixtureRequest,
    target: Target,
    settings: HarnessSettings,
    run_info: dict[str, Any],
    record_verdict: Callable[[Verdict], Verdict],
    tmp_path: Path,
    attach_chart: Callable[[str, Callable[[], bytes]], None],
    phase_progress: ProgressThrottle | None,
) -> None:
    try:
        result = run_baseline(
            target.system_map_path,
            users=BASELINE_USERS,
            spawn_rate=BASELINE_SPAWN_RATE,
            duration_s=BASELINE_DURATION_S,
            rate_per_user=BASELINE_RATE_PER_USER,
            locust_bin=locust_bin(settings.project_root),
            locustfile=baseline_locustfile(settings.project_root),
            out_dir=tmp_path,
            # Reached only past the plugin's HITL gate when the marker is there.
            hitl_approved=request.node.get_closest_marker("hitl") is not None,
            method=settings.method,
            confidence=settings.confidence,
            workers=settings.load_workers,
            progress=phase_progress,
        )
    except BaselineError as error:
        pytest.fail(str(error), pytrace=False)
    run_info[BASELINE_SECTION] = result.run.to_dict()
    rows = [ChartRow(name, verdicts[1]) for name, verdicts in result.verdicts.items()]
    attach_chart("p95 latency per endpoint", lambda: latency_chart(rows, "Baseline: p95 latency"))
    for verdicts in result.verdicts.values():
        for verdict in verdicts:
            record_verdict(verdict)
