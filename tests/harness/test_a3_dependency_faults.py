"""DEP-01 against a dedicated ecosystem: with A3's auto-heal switched off (the reference's
``cycle_auto_heal``), the cycles that meet A4's 503s fail instead of healing and the heal
verdict FAILs on its bound; A4's fault is logged, and rolled back, all the same.

The clean PASS is the gate's own run of ``suites/test_a3_dependency.py``; this module keeps
to the one fault (about 50 s with the ecosystem's start).
"""

from __future__ import annotations

import asyncio
import ssl

import httpx
from secondconf.checks.resiliency.a3_judge import GOES_ON, HEALS, HEALTHY, judge_a3_under_a4
from secondconf.checks.resiliency.a3_under_a4 import (
    DependencyPlan,
    DependencyRun,
    run_a3_under_a4,
)
from secondconf.contract.platform import SyntheticIdentity
from secondconf.core.clock import SystemClock
from secondconf.core.secret import Secret
from secondconf.engine.verdict import Outcome, Reason
from secondconf.target.client import harness_client
from secondconf.target.control import TargetControl
from secondconf.target.identity import fetch_token

from tests.harness.conftest import HarnessTarget

ADMIN = "REFTARGET_ADMIN_TOKEN"
# Shorter than the gate's windows: without healing every failure-hit cycle fails, so a
# dozen of them already put the lower bound far above the threshold.
SHORT = DependencyPlan(baseline_s=2.0, fault_s=8.0, recovery_s=3.0)


def a3_under_a4(target: HarnessTarget, actions: list[tuple[str, str, bool]]) -> DependencyRun:
    def record(app_id: str, what: str, *, rollback: bool) -> None:
        actions.append((app_id, what, rollback))

    control = TargetControl(target.map, Secret(ADMIN, target.secrets[ADMIN]), record)

    async def play() -> DependencyRun:
        async with harness_client(target.map, env="embedded") as client:
            token = await fetch_token(
                client, target.map, target.secret("OIDC_CLIENT_SECRET"), SyntheticIdentity.STUDENT
            )
            return await run_a3_under_a4(client, target.map, token, control, SystemClock(), SHORT)

    return asyncio.run(play())


def a4_503_fraction(target: HarnessTarget) -> object:
    verify = ssl.create_default_context(cafile=str(target.map.ca_bundle))
    with httpx.Client(verify=verify, trust_env=False) as client:
        answer = client.get(
            target.map.apps["A4"].base_url + "/_admin/faults",
            headers={"Authorization": f"Bearer {target.secrets[ADMIN]}"},
        )
    answer.raise_for_status()
    return answer.json()["error_503_fraction"]


def test_without_auto_heal_the_heal_verdict_fails(harness_target: HarnessTarget) -> None:
    actions: list[tuple[str, str, bool]] = []
    harness_target.set_faults("A3", {"disabled_rules": ["cycle_auto_heal"]})
    try:
        run = a3_under_a4(harness_target, actions)
    finally:
        harness_target.set_faults("A3", {"disabled_rules": []})
    verdicts = {str(v.subject): v for v in judge_a3_under_a4(run)}
    heals = verdicts[HEALS]
    assert (heals.outcome, heals.reason) == (Outcome.FAIL, Reason.BOUND_EXCEEDS), heals.summary()
    assert heals.k == heals.n >= 5
    assert heals.details["healed"] == 0
    # A failed cycle is A4's doing: the run went on, and is healthy once A4 is back.
    assert verdicts[GOES_ON].outcome is Outcome.PASS, verdicts[GOES_ON].details["violations"]
    assert verdicts[HEALTHY].outcome is Outcome.PASS, verdicts[HEALTHY].details["violations"]
    assert actions == [
        ("A4", 'set faults {"error_503_fraction":0.5}', False),
        ("A4", "clear faults", True),
    ]
    assert a4_503_fraction(harness_target) == 0.0
