"""The fixtures the suites use: the target, and the liveness run measured once per session."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from secondconf.clock import SystemClock
from secondconf.liveness import LivenessPlan, LivenessResult, measure_liveness
from secondconf.options import HarnessSettings
from secondconf.safeclient import harness_client
from secondconf.stashkeys import RUN_INFO_KEY, SETTINGS_KEY
from secondconf.target import EMBEDDED_LOCK_DIR, Target, TargetError, open_target
from secondconf.telemetry_client import A8Client


def _shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder every xdist worker of this session agrees on (their temp dirs' parent)."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / EMBEDDED_LOCK_DIR


@pytest.fixture(scope="session")
def target(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    """The target under test (started, for the embedded default, on first use)."""
    settings = pytestconfig.stash[SETTINGS_KEY]
    with open_target(settings.system_map, _shared_dir(tmp_path_factory)) as opened:
        pytestconfig.stash[RUN_INFO_KEY].update(
            target=opened.description,
            system_map=str(opened.system_map_path),
            env=opened.system_map.env,
            versions={a: e.version for a, e in opened.system_map.apps.items()},
        )
        yield opened


def liveness_plan(settings: HarnessSettings) -> LivenessPlan:
    return LivenessPlan(
        burn_in_s=settings.profile.burn_in_s,
        window_s=settings.profile.window_s,
        rate_per_target=settings.probe_rate,
        mode=settings.gating_mode,
        method=settings.method,
        confidence=settings.confidence,
        telemetry_deadline_s=settings.telemetry_deadline_s,
    )


@pytest.fixture(scope="session")
def liveness_run(pytestconfig: pytest.Config, target: Target) -> LivenessResult:
    """Phase 1, measured once: every app's probes and A8's view of the same window."""
    settings = pytestconfig.stash[SETTINGS_KEY]
    try:
        a8_key = target.secret("A8_TELEMETRY_KEY")
    except TargetError as error:
        pytest.fail(str(error), pytrace=False)

    async def run() -> LivenessResult:
        async with harness_client(target.system_map, env=settings.env.value) as client:
            a8 = A8Client(client, target.system_map.telemetry_base_url, a8_key)
            return await measure_liveness(
                client, target.system_map, a8, liveness_plan(settings), SystemClock()
            )

    result = asyncio.run(run())
    pytestconfig.stash[RUN_INFO_KEY].update(
        liveness_window={"start": result.window_start, "end": result.window_end},
        probes_sent=result.probes_sent,
    )
    return result
