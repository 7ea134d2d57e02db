"""A dedicated reference ecosystem for the harness's end-to-end tests (faults get injected
here, so it is never the one other tests share)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

# Inner pytester runs write the report charts (matplotlib, numpy) and judge with scipy.stats
# (which imports numpy.fft); both must be imported before them: a C extension cannot be
# imported twice in one process, and a module first imported inside an in-process run is
# dropped when it ends (the second run then failed when no earlier module had scipy loaded).
import matplotlib.pyplot  # noqa: F401
import pytest
import scipy.stats  # noqa: F401
from reftarget.launch.ecosystem import Ecosystem
from secondconf.checks.liveness.measure import LivenessPlan, LivenessResult, measure_liveness
from secondconf.core.clock import SystemClock
from secondconf.core.secret import Secret
from secondconf.target.a8 import A8Client
from secondconf.target.client import harness_client
from secondconf.target.map import SystemMap, load_system_map

# 8 probes/s to /health and to /ready for 25 s: n = 400 per app, above the 381 a PASS
# needs (perf/bench_liveness_profile.py measured this profile; it is the embedded one).
TEST_PLAN = LivenessPlan(
    burn_in_s=3.0, window_s=25.0, rate_per_target=8.0, telemetry_deadline_s=10.0
)


class HarnessTarget:
    """The ecosystem, as the harness sees it, plus the reference target's fault switches."""

    def __init__(self, eco: Ecosystem) -> None:
        self.eco = eco
        self.map: SystemMap = load_system_map(eco.system_map_path, environ={})
        self.secrets = eco.secrets_env

    def secret(self, name: str) -> Secret:
        """One of the ecosystem's secrets, as the harness's functions take it."""
        return Secret(name, self.secrets[name])

    def set_faults(self, app_id: str, faults: Mapping[str, Any]) -> None:
        verify = ssl.create_default_context(cafile=str(self.map.ca_bundle))
        with httpx.Client(verify=verify, trust_env=False) as client:
            answer = client.post(
                self.map.apps[app_id].base_url + "/_admin/faults",
                json=dict(faults),
                headers={"Authorization": f"Bearer {self.secrets['REFTARGET_ADMIN_TOKEN']}"},
            )
            answer.raise_for_status()

    def measure(
        self, plan: LivenessPlan = TEST_PLAN, app_ids: tuple[str, ...] | None = None
    ) -> LivenessResult:
        async def run() -> LivenessResult:
            async with harness_client(self.map, env="embedded") as client:
                a8 = A8Client(client, self.map, self.secret("A8_TELEMETRY_KEY"))
                return await measure_liveness(client, self.map, a8, plan, SystemClock(), app_ids)

        return asyncio.run(run())


HARNESS_DIR = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``--dist loadgroup``, each harness module's tests go to one worker together:
    split over two workers, a module would start its ecosystem (and its module fixtures'
    measurements) twice. xdist then schedules the biggest groups first, so these long
    modules start early and the many short tests even out the end."""
    if config.getoption("dist", "no") != "loadgroup":
        return
    for item in items:
        if HARNESS_DIR in item.path.parents:
            item.add_marker(pytest.mark.xdist_group(item.path.stem))


@pytest.fixture(scope="module")
def harness_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HarnessTarget]:
    with Ecosystem(state_dir=tmp_path_factory.mktemp("ecosystem")) as eco:
        yield HarnessTarget(eco)
