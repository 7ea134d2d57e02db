"""The B2B journey driver against a real reference target: a clean journey walks every step
and A8 shows its events; a provider page without its CTA fails the journey at the landing
step, with a screenshot, and counts against provider signup (B2B-01)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from secondconf.checks.funnels.b2b import STEPS, B2BJourney, judge_signup, run_b2b_funnel
from secondconf.core.clock import SystemClock
from secondconf.core.progress import ProgressThrottle
from secondconf.engine.verdict import Outcome
from secondconf.target.a8 import A8Client
from secondconf.target.client import harness_client
from secondconf.target.map import SystemMap

from tests.harness.conftest import HarnessTarget


def journeys(
    target: HarnessTarget,
    system_map: SystemMap,
    evidence: Path,
    progress: ProgressThrottle | None = None,
) -> list[B2BJourney]:
    async def run() -> list[B2BJourney]:
        async with harness_client(system_map, env="embedded") as client:
            a8 = A8Client(client, system_map, target.secret("A8_TELEMETRY_KEY"))
            return await run_b2b_funnel(
                system_map,
                target.secret("OIDC_CLIENT_SECRET"),
                a8,
                SystemClock(),
                journeys=2,
                concurrency=2,
                evidence_dir=evidence,
                progress=progress,
            )

    return asyncio.run(run())


def test_a_clean_journey_passes_and_one_without_a_cta_fails_at_landing(
    harness_target: HarnessTarget, tmp_path: Path
) -> None:
    lines: list[str] = []
    every_tick = ProgressThrottle(lines.append, SystemClock().monotonic, every_s=0.0)
    clean = journeys(harness_target, harness_target.map, tmp_path / "clean", every_tick)
    assert [j.ok for j in clean] == [True, True], [j.failure for j in clean]
    assert lines[-1].endswith("journeys 2/2 done; passed 2/2; success lower bound 0.3424")
    assert [s.step for s in clean[0].steps] == list(STEPS)
    assert {e.event for e in clean[0].events} >= {"provider_billed", "revenue_settled"}
    assert not (tmp_path / "clean").exists()

    no_cta = dict(harness_target.map.pages)
    no_cta["b2b.landing"] = harness_target.map.apps["A7"].base_url + "/health"
    broken_map = dataclasses.replace(harness_target.map, pages=no_cta)
    broken = journeys(harness_target, broken_map, tmp_path / "broken")
    assert [j.failure for j in broken] == ["b2b.landing: the provider page shows no a#cta"] * 2
    assert all(j.screenshot and Path(j.screenshot).is_file() for j in broken)
    assert judge_signup([*clean, *broken]).k == 2
    assert judge_signup(broken).outcome is not Outcome.PASS
