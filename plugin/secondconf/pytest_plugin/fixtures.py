"""The fixtures the suites use: the target, and the runs measured once per session.

Measurement modules are imported inside the fixtures, never at module level: loading the
plugin (every pytest start in this venv) must not import the checks, httpx or scipy.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from secondconf.core.clock import SystemClock
from secondconf.core.files import write_atomic
from secondconf.pytest_plugin.state import RUN_INFO_KEY, SETTINGS_KEY
from secondconf.settings import HarnessSettings

if TYPE_CHECKING:
    from secondconf.checks.hardening.model import HardeningRun
    from secondconf.checks.liveness.measure import LivenessPlan, LivenessResult
    from secondconf.target.deployment import Target

T = TypeVar("T")


@contextlib.contextmanager
def measurement_lock(shared_dir: Path) -> Iterator[None]:
    """Held while a phase loads the target: two phases never measure at the same time,
    whatever the number of xdist workers (one lock file for the whole session)."""
    shared_dir.mkdir(parents=True, exist_ok=True)
    with open(shared_dir / "measurements.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def measure_once(
    path: Path,
    measure: Callable[[], T],
    dump: Callable[[T], Mapping[str, Any]],
    load: Callable[[Mapping[str, Any]], T],
) -> T:
    """Run ``measure`` once per session whatever the number of xdist workers: the first
    worker measures under the measurement lock and leaves the result at ``path``; the
    others wait for the lock and read it. (pytest-xdist's ``loadgroup`` would be the
    natural tool, but it does not group tests under pytest 9.)"""
    with measurement_lock(path.parent):
        if path.exists():
            return load(json.loads(path.read_text()))
        result = measure()
        write_atomic(path, json.dumps(dump(result)))
        return result


@pytest.fixture
def exclusive_target_load(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """For a check that loads the target itself (baseline load): no other phase's
    measurement runs while it does."""
    with measurement_lock(_shared_dir(tmp_path_factory)):
        yield


def _shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder every xdist worker of this session agrees on (their temp dirs' parent)."""
    from secondconf.target.deployment import EMBEDDED_LOCK_DIR

    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / EMBEDDED_LOCK_DIR


@pytest.fixture(scope="session")
def target(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    """The target under test (started, for the embedded default, on first use)."""
    from secondconf.target.deployment import open_target

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
    from secondconf.checks.liveness.measure import LivenessPlan

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
def liveness_run(
    pytestconfig: pytest.Config, target: Target, tmp_path_factory: pytest.TempPathFactory
) -> LivenessResult:
    """Phase 1, measured once: every app's probes and A8's view of the same window."""
    from secondconf.checks.liveness.measure import LivenessResult, measure_liveness
    from secondconf.target.a8 import A8Client
    from secondconf.target.client import harness_client
    from secondconf.target.deployment import TargetError

    settings = pytestconfig.stash[SETTINGS_KEY]
    try:
        a8_key = target.secret("A8_TELEMETRY_KEY")
    except TargetError as error:
        pytest.fail(str(error), pytrace=False)

    async def run() -> LivenessResult:
        async with harness_client(target.system_map, env=settings.env.value) as client:
            a8 = A8Client(client, target.system_map, a8_key)
            return await measure_liveness(
                client, target.system_map, a8, liveness_plan(settings), SystemClock()
            )

    result = measure_once(
        _shared_dir(tmp_path_factory) / "liveness.json",
        lambda: asyncio.run(run()),
        LivenessResult.to_dict,
        LivenessResult.from_dict,
    )
    pytestconfig.stash[RUN_INFO_KEY].update(
        liveness_window={"start": result.window_start, "end": result.window_end},
        probes_sent=result.probes_sent,
    )
    return result


@pytest.fixture(scope="session")
def hardening_run(
    pytestconfig: pytest.Config, target: Target, tmp_path_factory: pytest.TempPathFactory
) -> HardeningRun:
    """Phase 3, measured once: every covered route of every app through the §4 cases."""
    from secondconf.checks.hardening.cases import CASES
    from secondconf.checks.hardening.model import HardeningRun
    from secondconf.checks.hardening.run import HardeningError, run_hardening
    from secondconf.target.a8 import A8Client, TelemetryError
    from secondconf.target.client import harness_client
    from secondconf.target.deployment import TargetError

    settings = pytestconfig.stash[SETTINGS_KEY]
    try:
        a8_key = target.secret("A8_TELEMETRY_KEY")
        client_secret = target.secret("OIDC_CLIENT_SECRET")
    except TargetError as error:
        pytest.fail(str(error), pytrace=False)

    async def run() -> HardeningRun:
        async with harness_client(target.system_map, env=settings.env.value) as client:
            a8 = A8Client(client, target.system_map, a8_key)
            return await run_hardening(
                client,
                target.system_map,
                a8,
                client_secret,
                CASES,
                SystemClock(),
                telemetry_deadline_s=settings.telemetry_deadline_s,
            )

    try:
        result = measure_once(
            _shared_dir(tmp_path_factory) / "hardening.json",
            lambda: asyncio.run(run()),
            HardeningRun.to_dict,
            HardeningRun.from_dict,
        )
    except (HardeningError, TelemetryError) as error:
        pytest.fail(f"hardening run: {error}", pytrace=False)
    from secondconf.reports.idempotency import HARDENING_ROUTES_SECTION

    pytestconfig.stash[RUN_INFO_KEY][HARDENING_ROUTES_SECTION] = {
        app_id: coverage.to_dict() for app_id, coverage in result.apps.items()
    }
    return result
