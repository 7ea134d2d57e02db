"""Phase 7 against a dedicated ecosystem: the drills PASS on a clean target, every fault
is rolled back and logged, a fault whose rollback did not take FAILs its drill and is
cleared by the next run, and a recovery slower than its limit FAILs.

The whole module is ``serial``: every drill judges the other apps' latency and the time to
the first failing slice, and under CI's parallel load the prober ran 2.2 s behind (a
degraded neighbour came out INCONCLUSIVE HARNESS_SATURATED instead of FAIL). The fault
tests assert a FAIL no load can turn into a PASS (a fault left in place, a 6 s warm-up
against a 1 s limit, a neighbour 800 ms late whose own probes FAIL with the harness's delays
taken out); alone, they also get the verdict they name rather than an INCONCLUSIVE.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import ssl
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx
import pytest
from secondconf.checks.liveness.measure import LivenessPlan, measure_liveness
from secondconf.checks.resiliency import drills
from secondconf.checks.resiliency.drills import (
    DRILLS,
    DrillSpec,
    DrillTarget,
    ProbePlan,
    clear_leftovers,
    run_drill,
)
from secondconf.checks.resiliency.ledger import FaultLedger
from secondconf.checks.resiliency.run import DrillsRun, run_drills
from secondconf.core.clock import SystemClock
from secondconf.engine.verdict import Outcome, Verdict
from secondconf.hitl.actions import ActionLog
from secondconf.hitl.log import ApprovalLog
from secondconf.pytest_plugin.drill_fixtures import DRILL_TELEMETRY_DEADLINE_S
from secondconf.target.a8 import A8Client
from secondconf.target.client import harness_client
from secondconf.target.control import TargetControl

from tests.harness.conftest import HarnessTarget

pytestmark = pytest.mark.serial
CLEAN_DRILLS = ("DRL-01", "DRL-03")  # a fault switch and a process kill


def _drill(
    target: HarnessTarget,
    log: Path,
    drills: Sequence[DrillSpec],
    *,
    rollback: bool = True,
    steady_state: bool = True,
) -> DrillsRun:
    """The drills as the gate runs them, or (``steady_state=False``) without the steady-state
    window first, for the tests of one drill's rollback and recovery."""
    clock = SystemClock()
    control = TargetControl(
        target.map,
        target.secret("REFTARGET_ADMIN_TOKEN"),
        recorder=ActionLog(log, "embedded", clock, "drill test"),
    )

    async def run() -> DrillsRun:
        async with harness_client(target.map, env="embedded") as client:
            a8 = A8Client(client, target.map, target.secret("A8_TELEMETRY_KEY"))

            async def measure(
                app_ids: Sequence[str], plan: ProbePlan
            ) -> Mapping[str, Sequence[Verdict]]:
                liveness = LivenessPlan(
                    burn_in_s=plan.burn_in_s,
                    window_s=plan.window_s,
                    rate_per_target=plan.rate_per_target,
                    slice_s=plan.slice_s,
                    telemetry_deadline_s=DRILL_TELEMETRY_DEADLINE_S,
                )
                result = await measure_liveness(client, target.map, a8, liveness, clock, app_ids)
                return result.verdicts

            drill_target = DrillTarget(
                system_map=target.map,
                faults=control,
                processes=target.eco,
                ledger=FaultLedger.beside(log),
                client=client,
                clock=clock,
                test_id="drill test",
                rollback_enabled=rollback,
            )
            if steady_state:
                return await run_drills(drill_target, measure, drills)
            cleared = await clear_leftovers(drill_target)
            results = [await run_drill(spec, drill_target, measure) for spec in drills]
            return DrillsRun(results=tuple(results), leftovers_cleared=tuple(cleared))

    return asyncio.run(run())


def _not_passed(run: DrillsRun) -> list[str]:
    return [v.summary() for r in run.results for v in r.verdicts if v.outcome is not Outcome.PASS]


def test_clean_drills_pass_and_every_fault_is_rolled_back_and_logged(
    harness_target: HarnessTarget, tmp_path: Path
) -> None:
    """A fault switch (DRL-01) and a killed process (DRL-03): both PASS on a clean target,
    both rolled back and logged. All five clean drills run in the test command's gate step
    (scripts/test-suite.sh), so they are not run twice here."""
    log = tmp_path / "hitl.log"
    run = _drill(harness_target, log, [spec for spec in DRILLS if spec.rule_id in CLEAN_DRILLS])
    assert [r.rule_id for r in run.results] == list(CLEAN_DRILLS)
    figures = {r.rule_id: r.figures for r in run.results}
    print(json.dumps({"wall_s": run.wall_s, "figures": figures}, indent=1))
    assert _not_passed(run) == [], figures
    assert FaultLedger.beside(log).pending() == []
    actions = ApprovalLog.load(log).actions  # verifies the chain
    whats = [(a.app, a.what) for a in actions]
    assert ("A2", 'set faults {"error_503_fraction":0.5}') in whats
    assert ("A2", "clear faults (rollback)") in whats
    assert ("A4", "drill: process killed (SIGKILL), then started") in whats
    assert ("A4", "start process if stopped (rollback)") in whats


def test_a_fault_whose_rollback_is_disabled_fails_and_the_next_run_clears_it(
    harness_target: HarnessTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fault stays (no rollback), so the recovery poll can only give up: after 1 s
    # past the limit instead of 30 (the FAIL is the same, 29 s sooner).
    monkeypatch.setattr(drills, "GIVE_UP_AFTER_S", 1.0)
    log = tmp_path / "hitl.log"
    spec = dataclasses.replace(DRILLS[0], recovery_limit_s=1.0)  # 503s on A2
    broken = _drill(harness_target, log, [spec], rollback=False, steady_state=False)
    recovery = next(v for v in broken.results[0].verdicts if "recovery" in v.check)
    assert recovery.outcome is Outcome.FAIL, recovery.summary()
    assert [(f.app_id, f.kind) for f in FaultLedger.beside(log).pending()] == [("A2", "error_503")]

    next_run = _drill(harness_target, log, [], steady_state=False)  # it clears leftovers
    assert next_run.leftovers_cleared == (
        f"A2 error_503 left by drill test (pid {os.getpid()}): rolled back",
    )
    assert FaultLedger.beside(log).pending() == []
    whats = [(a.app, a.what) for a in ApprovalLog.load(log).actions]
    assert ("A2", "leftover error_503 of an interrupted run (rollback)") in whats
    assert ("A2", "clear faults (rollback)") in whats
    assert _faults_of(harness_target, "A2")["error_503_fraction"] == 0.0


def _faults_of(target: HarnessTarget, app_id: str) -> dict[str, object]:
    verify = ssl.create_default_context(cafile=str(target.map.ca_bundle))
    with httpx.Client(verify=verify, trust_env=False) as client:
        answer = client.get(
            target.map.apps[app_id].base_url + "/_admin/faults",
            headers={"Authorization": f"Bearer {target.secrets['REFTARGET_ADMIN_TOKEN']}"},
        )
        answer.raise_for_status()
        faults: dict[str, object] = answer.json()
        return faults


def test_a_recovery_slower_than_its_limit_fails(
    harness_target: HarnessTarget, tmp_path: Path
) -> None:
    slow = DrillSpec("DRL-05", "cold_start", "A7", recovery_limit_s=1.0, warmup_s=6.0)
    run = _drill(harness_target, tmp_path / "hitl.log", [slow], steady_state=False)
    result = run.results[0]
    recovery = next(v for v in result.verdicts if "recovery" in v.check)
    assert recovery.outcome is Outcome.FAIL, recovery.summary()
    assert recovery.estimate is not None
    assert recovery.estimate > 1.0
    assert "over the 1 s limit" in recovery.details["violations"][0]
    detection = next(v for v in result.verdicts if "detection" in v.check)
    assert detection.outcome is Outcome.PASS, detection.summary()


def test_a_neighbour_really_degraded_fails_the_containment(
    harness_target: HarnessTarget, tmp_path: Path
) -> None:
    """503s on A2 while A3 (a neighbour, not the drill's app) answers 800 ms late: the
    pooled containment FAILs, also when the prober is behind its schedule (A3's probes
    FAIL with the harness's delays taken out, so the pool cannot be the harness's)."""
    harness_target.set_faults("A3", {"added_latency_ms": 800.0})
    try:
        run = _drill(harness_target, tmp_path / "hitl.log", [DRILLS[0]], steady_state=False)
    finally:
        harness_target.set_faults("A3", {"added_latency_ms": 0.0})
    result = run.results[0]
    slow = next(v for v in result.verdicts if "containment slow_fraction" in v.check)
    assert slow.outcome is Outcome.FAIL, slow.summary()
    assert result.figures["containment_per_app"]["A3"]["p95_latency_ms"][0] > 100, result.figures
