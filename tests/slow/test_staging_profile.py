"""Phase 1 with the staging profile against the embedded default, measured once.

The staging profile (``PROFILES[TargetEnv.STAGING]``: 15 min burn-in, then a 15 min
stable window, 4 probes/s to every app's ``/health`` and ``/ready``) runs for all eight
apps at once, as the gate's ``liveness_run`` runs it, against a freshly started embedded
reference target. It takes over 30 minutes, hence the ``slow`` marker:

    .venv/bin/pytest -p no:cacheprovider -m slow tests/slow/test_staging_profile.py

Progress shows every 10 s; the wall time and every app's verdicts are printed and written
to ``tests/perf/reports/staging_profile.json``. docs/perf.md has one run's figures.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from secondconf.checks.liveness.measure import LivenessPlan, LivenessResult, measure_liveness
from secondconf.contract.platform import APP_IDS, TargetEnv
from secondconf.core.clock import SystemClock
from secondconf.core.files import write_atomic
from secondconf.pytest_plugin.progress import terminal_progress
from secondconf.settings import PROFILES
from secondconf.target.a8 import A8Client
from secondconf.target.client import harness_client
from secondconf.target.deployment import open_target

pytestmark = pytest.mark.slow

PASS_MIN_N = 381  # a PASS at 0 errors, two-sided Wilson 95 %
RECORD = Path(__file__).resolve().parents[1] / "perf" / "reports" / "staging_profile.json"


def test_staging_profile_passes_every_app(
    pytestconfig: pytest.Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = PROFILES[TargetEnv.STAGING]
    plan = LivenessPlan(
        burn_in_s=profile.burn_in_s,
        window_s=profile.window_s,
        rate_per_target=profile.probe_rate,
        telemetry_deadline_s=60.0,
    )
    clock = SystemClock()
    with open_target(None, tmp_path / "state") as target:

        async def run() -> LivenessResult:
            async with harness_client(target.system_map, env="embedded") as client:
                a8 = A8Client(client, target.system_map, target.secret("A8_TELEMETRY_KEY"))
                return await measure_liveness(
                    client,
                    target.system_map,
                    a8,
                    plan,
                    clock,
                    progress=terminal_progress(pytestconfig, clock),
                )

        started = time.perf_counter()
        result = asyncio.run(run())
        wall_s = time.perf_counter() - started

    verdicts = {app: [v.summary() for v in result.for_app(app)] for app in result.verdicts}
    record = {
        "profile": profile.name,
        "burn_in_s": profile.burn_in_s,
        "window_s": profile.window_s,
        "probe_rate": profile.probe_rate,
        "wall_s": round(wall_s, 1),
        "probes_sent": result.probes_sent,
        "window": [result.window_start, result.window_end],
        "verdicts": verdicts,
    }
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(RECORD, json.dumps(record, indent=2) + "\n")
    with capsys.disabled():
        print(
            f"\nstaging profile {profile.name}: wall time {wall_s:.1f} s, "
            f"{result.probes_sent:,} probes; {RECORD}"
        )
        for app, lines in verdicts.items():
            for line in lines:
                print(f"  {app}: {line}")

    assert sorted(result.verdicts) == sorted(APP_IDS)
    assert wall_s >= profile.burn_in_s + profile.window_s  # the whole profile ran
    failed = [v.summary() for app in result.verdicts for v in result.for_app(app) if not v.passed]
    assert not failed, failed
    probe_ns = [
        v.n
        for app in result.verdicts
        for v in result.for_app(app)
        if v.source == "probe" and v.check == "error_rate"
    ]
    assert min(probe_ns) >= PASS_MIN_N
