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
from collections.abc import Callable, Coroutine, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pytest

from secondconf.contract.platform import TargetEnv
from secondconf.core.files import write_atomic
from secondconf.hitl.actions import FAULT_GATE, ActionLog
from secondconf.hitl.log import ApprovalLogError
from secondconf.pytest_plugin.state import APPROVALS_KEY, CLOCK_KEY, RUN_INFO_KEY, SETTINGS_KEY
from secondconf.settings import HarnessSettings

if TYPE_CHECKING:
    import httpx

    from secondconf.checks.funnels.model import FunnelRun
    from secondconf.checks.hardening.model import HardeningRun
    from secondconf.checks.liveness.measure import LivenessPlan, LivenessResult
    from secondconf.core.clock import Clock
    from secondconf.core.progress import ProgressThrottle
    from secondconf.core.secret import Secret
    from secondconf.target.a8 import A8Client
    from secondconf.target.control import TargetControl
    from secondconf.target.deployment import Target
    from secondconf.target.identity import AccessToken
    from secondconf.target.write_gate import ProdWriteGate

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


@pytest.fixture(scope="session", name="settings")
def harness_settings(pytestconfig: pytest.Config) -> HarnessSettings:
    """The session's harness settings (command line, then ini, then defaults)."""
    return pytestconfig.stash[SETTINGS_KEY]


@pytest.fixture(scope="session")
def clock(pytestconfig: pytest.Config) -> Clock:
    """The session's clock (one for every timestamp of the run)."""
    return pytestconfig.stash[CLOCK_KEY]


@pytest.fixture(scope="session", name="run_info")
def session_run_info(pytestconfig: pytest.Config) -> dict[str, Any]:
    """What was run, against what, by section: the reports read their sections of it."""
    return pytestconfig.stash[RUN_INFO_KEY]


@pytest.fixture
def secret(target: Target) -> Callable[[str], Secret]:
    """The target's secret of that name, masked; a check whose secret is not set fails
    with one line naming the variable (never a value)."""

    def lookup(name: str) -> Secret:
        [found] = target_secrets(target, name)
        return found

    return lookup


def target_secrets(target: Target, *names: str) -> tuple[Secret, ...]:
    """The target's secrets of those names, masked; one that is not set fails the check
    with one line naming its variable (never a value)."""
    from secondconf.target.deployment import TargetError

    try:
        return tuple(target.secret(name) for name in names)
    except TargetError as error:
        pytest.fail(str(error), pytrace=False)


async def with_a8(
    target: Target,
    settings: HarnessSettings,
    a8_key: Secret,
    work: Callable[[httpx.AsyncClient, A8Client], Coroutine[Any, Any, T]],
) -> T:
    """``work(client, a8)`` on a client of its own under the harness's rules, with A8's."""
    from secondconf.target.a8 import A8Client
    from secondconf.target.client import harness_client

    async with harness_client(target.system_map, env=settings.env.value) as client:
        return await work(client, A8Client(client, target.system_map, a8_key))


@pytest.fixture
def run_async() -> Iterator[Callable[[Coroutine[Any, Any, Any]], Any]]:
    """Runs a coroutine to its end on this check's own event loop: one loop for the whole
    check, so the clients opened on it (``async_client``, ``a8``) serve every call."""
    with asyncio.Runner() as runner:
        yield runner.run


def prod_write_gate(config: pytest.Config, target: Target, item: pytest.Item) -> ProdWriteGate:
    """The write gate of ``item``'s clients: against ``prod_observe`` its synthetic writes go
    out, each logged, only when it is marked ``hitl(gate="prod_write")`` and approved (the
    plugin logged that use in setup); any other check's writes are refused naming the gate."""
    from datetime import timedelta

    from secondconf.hitl.prod_writes import PROD_WRITE_GATE, ProdWriteLog
    from secondconf.pytest_plugin.state import MARKS_KEY
    from secondconf.target.write_gate import ProdWriteGate, app_of_map

    settings, clock = config.stash[SETTINGS_KEY], config.stash[CLOCK_KEY]
    marks = item.stash.get(MARKS_KEY, None)
    gated = getattr(marks, "hitl_gate", None) == PROD_WRITE_GATE
    approval = (
        config.stash[APPROVALS_KEY].valid_approval(
            PROD_WRITE_GATE,
            TargetEnv.PROD_OBSERVE.value,
            clock.now(),
            max_length=timedelta(seconds=settings.hitl_max_approval_s),
        )
        if gated
        else None
    )
    log = ProdWriteLog(settings.hitl_log, clock, item.nodeid, approval, use_logged=gated)
    return ProdWriteGate(log, app_of_map(target.system_map))


@pytest.fixture
def async_client(
    request: pytest.FixtureRequest,
    target: Target,
    settings: HarnessSettings,
    run_async: Callable[[Coroutine[Any, Any, Any]], Any],
) -> Iterator[httpx.AsyncClient]:
    """An async client for the target under the harness's rules, open on ``run_async``'s loop."""
    from secondconf.target.client import harness_client

    client = harness_client(
        target.system_map,
        env=settings.env.value,
        write_gate=prod_write_gate(request.config, target, request.node),
    )
    run_async(client.__aenter__())
    try:
        yield client
    finally:
        run_async(client.__aexit__(None, None, None))


@pytest.fixture
def a8(
    target: Target, async_client: httpx.AsyncClient, secret: Callable[[str], Secret]
) -> A8Client:
    """A client for the target's A8 (its key by name), on ``run_async``'s loop."""
    from secondconf.target.a8 import A8Client

    return A8Client(async_client, target.system_map, secret("A8_TELEMETRY_KEY"))


@pytest.fixture
def sync_client(
    request: pytest.FixtureRequest, target: Target, settings: HarnessSettings
) -> Iterator[httpx.Client]:
    """A blocking client for the target under the harness's rules."""
    from secondconf.target.client import harness_sync_client

    with harness_sync_client(
        target.system_map,
        env=settings.env.value,
        timeout_s=10.0,
        write_gate=prod_write_gate(request.config, target, request.node),
    ) as opened:
        yield opened


class StudentScenario(Protocol):
    """``play(label, scenario)``: what :func:`as_student` gives a suite."""

    def __call__(
        self,
        label: str,
        scenario: Callable[[httpx.AsyncClient, A8Client, AccessToken], Coroutine[Any, Any, T]],
    ) -> T: ...


@pytest.fixture(scope="session")
def as_student(target: Target, settings: HarnessSettings) -> StudentScenario:
    """Plays a scenario as the synthetic student: ``scenario(client, a8, token)`` on a
    client of its own under the harness's rules, with A8's client and the student's token.

    A secret that is not set fails the check with one line naming it; a token A1 refuses,
    or any :class:`~secondconf.target.identity.TokenError` of the scenario, fails it with
    one line after ``label``. (Session-scoped: module-scoped runs may use it.)
    """
    from secondconf.contract.platform import SyntheticIdentity
    from secondconf.target.identity import TokenError, fetch_token

    def play(
        label: str,
        scenario: Callable[[httpx.AsyncClient, A8Client, AccessToken], Coroutine[Any, Any, T]],
    ) -> T:
        a8_key, client_secret = target_secrets(target, "A8_TELEMETRY_KEY", "OIDC_CLIENT_SECRET")

        async def as_the_student(client: httpx.AsyncClient, a8: A8Client) -> T:
            student = str(SyntheticIdentity.STUDENT)
            token = await fetch_token(client, target.system_map, client_secret, student)
            return await scenario(client, a8, token)

        try:
            return asyncio.run(with_a8(target, settings, a8_key, as_the_student))
        except TokenError as error:
            pytest.fail(f"{label}: {error}", pytrace=False)

    return play


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


@pytest.fixture
def phase_progress(pytestconfig: pytest.Config) -> ProgressThrottle | None:
    """Where a long phase (a load run, a soak) reports its progress: a line at least every
    10 s on the terminal; None under ``-q``."""
    from secondconf.pytest_plugin.progress import terminal_progress

    return terminal_progress(pytestconfig, pytestconfig.stash[CLOCK_KEY])


@pytest.fixture
def attach_chart(pytestconfig: pytest.Config) -> Callable[[str, Callable[[], bytes]], None]:
    """Attach a chart (PNG, drawn only when Allure is writing) to this check's result."""
    from secondconf.pytest_plugin.allure_labels import attach_png

    def attach(name: str, draw: Callable[[], bytes]) -> None:
        attach_png(pytestconfig, name, draw)

    return attach


@pytest.fixture(scope="session")
def liveness_run(
    pytestconfig: pytest.Config, target: Target, tmp_path_factory: pytest.TempPathFactory
) -> LivenessResult:
    """Phase 1, measured once: every app's probes and A8's view of the same window."""
    clock = pytestconfig.stash[CLOCK_KEY]
    from secondconf.checks.liveness.measure import LivenessResult, measure_liveness
    from secondconf.pytest_plugin.progress import terminal_progress

    settings = pytestconfig.stash[SETTINGS_KEY]
    [a8_key] = target_secrets(target, "A8_TELEMETRY_KEY")

    async def measure(client: httpx.AsyncClient, a8: A8Client) -> LivenessResult:
        return await measure_liveness(
            client,
            target.system_map,
            a8,
            liveness_plan(settings),
            clock,
            progress=terminal_progress(pytestconfig, clock),
        )

    result = measure_once(
        _shared_dir(tmp_path_factory) / "liveness.json",
        lambda: asyncio.run(with_a8(target, settings, a8_key, measure)),
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
    clock = pytestconfig.stash[CLOCK_KEY]
    from secondconf.checks.hardening.cases import CASES
    from secondconf.checks.hardening.model import HardeningRun
    from secondconf.checks.hardening.run import HardeningError, run_hardening
    from secondconf.target.a8 import TelemetryError

    settings = pytestconfig.stash[SETTINGS_KEY]
    a8_key, client_secret = target_secrets(target, "A8_TELEMETRY_KEY", "OIDC_CLIENT_SECRET")

    async def measure(client: httpx.AsyncClient, a8: A8Client) -> HardeningRun:
        return await run_hardening(
            client,
            target.system_map,
            a8,
            client_secret,
            CASES,
            clock,
            telemetry_deadline_s=settings.telemetry_deadline_s,
        )

    try:
        result = measure_once(
            _shared_dir(tmp_path_factory) / "hardening.json",
            lambda: asyncio.run(with_a8(target, settings, a8_key, measure)),
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


@pytest.fixture
def fault_control(
    request: pytest.FixtureRequest, pytestconfig: pytest.Config, target: Target
) -> TargetControl | None:
    """The target's fault and clock control for this check, each change and rollback
    appended to the HITL log as an action (contract §9), or ``None``.

    ``embedded``: whenever the target offers control. ``staging``: only under a valid
    ``inject_503`` approval in the session's approvals snapshot (its use is logged with the
    first change). ``prod_observe``: never. With ``None`` a check runs its real-time variant
    or reports the case untested.
    """
    control = logged_control(pytestconfig, target, request.node.nodeid)
    return None if isinstance(control, str) else control


@pytest.fixture
def resiliency_control(
    request: pytest.FixtureRequest, pytestconfig: pytest.Config, target: Target
) -> TargetControl:
    """``fault_control`` for a phase-7 check that cannot run without it: where there is
    none (no control, ``staging`` without an ``inject_503`` approval) the check is skipped
    naming why, counted as awaiting approval, as the drills are."""
    from secondconf.pytest_plugin.state import DELIBERATE_SKIP_KEY

    control = logged_control(pytestconfig, target, request.node.nodeid)
    if isinstance(control, str):
        request.node.stash[DELIBERATE_SKIP_KEY] = True
        pytest.skip(control)
    return control


def logged_control(config: pytest.Config, target: Target, test_id: str) -> TargetControl | str:
    """The target's fault control with every change logged to the HITL log as ``test_id``'s
    action, or why there is none (no control, ``prod_observe``, no staging approval)."""
    import dataclasses
    from datetime import timedelta

    from secondconf.target.control import ControlError

    settings = config.stash[SETTINGS_KEY]
    controls = target.fault_controls
    if controls is None or settings.env is TargetEnv.PROD_OBSERVE:
        return "the target offers no fault control (contract §9)"
    clock = config.stash[CLOCK_KEY]
    approval = None
    if settings.env is TargetEnv.STAGING:
        approval = config.stash[APPROVALS_KEY].valid_approval(
            FAULT_GATE,
            settings.env.value,
            clock.now(),
            max_length=timedelta(seconds=settings.hitl_max_approval_s),
        )
        if approval is None:
            return (
                f"HITL gate {FAULT_GATE!r} not approved for env {settings.env.value!r} "
                f"(approval log: {settings.hitl_log})"
            )
    log = ActionLog(settings.hitl_log, settings.env.value, clock, test_id, approval)

    def record(app_id: str, what: str, *, rollback: bool) -> None:
        try:
            log(app_id, what, rollback=rollback)
        except (ApprovalLogError, ValueError) as error:
            raise ControlError(f"HITL log: cannot record {what!r} on {app_id}: {error}") from None

    return dataclasses.replace(controls, recorder=record)


@pytest.fixture(scope="session")
def b2c_run(
    pytestconfig: pytest.Config, target: Target, tmp_path_factory: pytest.TempPathFactory
) -> FunnelRun:
    """Phase 3 B2C, measured once: the journeys in Chromium (35 of the NN namespace; in
    ``prod_observe`` one per named identity), their tiles, the money and the cleanup."""
    from secondconf.checks.funnels.model import FunnelRun
    from secondconf.checks.funnels.run import FunnelError, FunnelPlan, FunnelSecrets, run_funnel
    from secondconf.core.secret import Secret
    from secondconf.pytest_plugin.progress import terminal_progress
    from secondconf.target.browser import BrowserError
    from secondconf.target.client import harness_client
    from secondconf.target.deployment import TargetError

    settings = pytestconfig.stash[SETTINGS_KEY]
    clock = pytestconfig.stash[CLOCK_KEY]
    login = target.system_map.browser_login
    try:
        password_env = login.password_env if login is not None else "OIDC_CLIENT_SECRET"
        if password_env in target.secrets:
            password = target.secret(password_env)
        elif os.environ.get(password_env):
            password = Secret(password_env, os.environ[password_env])
        else:
            pytest.fail(f"B2C funnel: {password_env} (the synthetic password) is not set", False)
        secrets = FunnelSecrets(
            a8_key=target.secret("A8_TELEMETRY_KEY"),
            client_secret=target.secret("OIDC_CLIENT_SECRET"),
            password=password,
            stripe_key=target.secrets.get("STRIPE_SECRET_KEY"),
        )
    except TargetError as error:
        pytest.fail(str(error), pytrace=False)
    plan = FunnelPlan(
        named=settings.env is TargetEnv.PROD_OBSERVE, evidence_dir=settings.evidence_dir / "b2c"
    )

    async def run() -> FunnelRun:
        async with harness_client(target.system_map, env=settings.env.value) as client:
            return await run_funnel(
                client,
                target.system_map,
                secrets,
                plan,
                clock,
                progress=terminal_progress(pytestconfig, clock),
            )

    try:
        result = measure_once(
            _shared_dir(tmp_path_factory) / "b2c_funnel.json",
            lambda: asyncio.run(run()),
            FunnelRun.to_dict,
            FunnelRun.from_dict,
        )
    except (FunnelError, BrowserError) as error:
        pytest.fail(f"B2C funnel: {error}", pytrace=False)
    from secondconf.reports.funnels import B2C_SECTION

    pytestconfig.stash[RUN_INFO_KEY][B2C_SECTION] = result.to_dict()
    return result
