"""How a drill times and judges, against a fake target: a restart is timed from the
restart (polled while the detection window still runs, not after it), the fault goes in
as the window's burn-in ends, a slow probe before the fault is no detection, and a pooled
containment FAIL is the harness's (INCONCLUSIVE) only when the prober was behind and no
app FAILs without the harness's delays."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from secondconf.checks.resiliency import drills
from secondconf.checks.resiliency.drills import (
    DRILLS,
    DrillPhase,
    DrillResult,
    DrillTarget,
    ProbePlan,
    pooled_slo,
    run_drill,
)
from secondconf.checks.resiliency.ledger import FaultLedger
from secondconf.core.clock import SystemClock, utc_iso
from secondconf.core.secret import Secret
from secondconf.engine.verdict import (
    Outcome,
    Reason,
    Timeslice,
    Verdict,
    Window,
    judge_quantile,
    judge_rate,
)
from secondconf.target.control import TargetControl

from tests.plugin.system_maps import system_map_at

DRL_04 = next(s for s in DRILLS if s.rule_id == "DRL-04")  # A5 restarted
RESTART_S = 0.3  # how long the fake restart takes, stop to ready
SHORT_DETECTION = ProbePlan(burn_in_s=0.4, window_s=2.0, rate_per_target=8.0)
SHORT_CONFIRMATION = ProbePlan(burn_in_s=0.0, window_s=0.1, rate_per_target=8.0)


class FakeProcesses:
    """A5 answers 503 while its restart runs (stop, start, wait for ready)."""

    def __init__(self, state_dir: Path) -> None:
        self._state_dir = state_dir
        self.down: set[str] = set()

    @property
    def state_dir(self) -> Path:
        return self._state_dir

    def restart(self, app_id: str) -> None:
        self.down.add(app_id)
        time.sleep(RESTART_S)  # the restart's own duration, in its thread
        self.down.discard(app_id)

    def stop(self, app_id: str) -> None:
        self.down.add(app_id)

    def kill(self, app_id: str) -> None:
        self.down.add(app_id)

    def start(self, app_id: str) -> None:
        self.down.discard(app_id)

    def cold_start(self, app_id: str, warmup_s: float = 3.0) -> None:
        self.restart(app_id)


class OfflineControl(TargetControl):
    def _post(self, app_id: str, path: str, body: Mapping[str, Any] | None) -> Any:
        return {}

    def _delete(self, app_id: str, path: str) -> None:
        return None


def _probe_verdicts(
    app_id: str, *, failures: int = 0, n: int = 160, slices: Sequence[Timeslice] = ()
) -> tuple[Verdict, Verdict]:
    window = Window(timeslices=tuple(slices))
    error = judge_rate(
        check="error_rate",
        source="probe",
        failures=failures,
        n=n,
        threshold=0.01,
        window=window,
        subject=app_id,
    )
    latency = judge_quantile(
        check="p95_latency_ms",
        source="probe",
        samples=[10.0] * n,
        threshold=120.0,
        window=window,
        subject=app_id,
    )
    return error, latency


class FakeWindows:
    """Each window sleeps its length, then says the faulted app failed from the start of
    the judged window on (and, ``slow_in_burn_in``, had a slow probe in the burn-in)."""

    def __init__(self, clock: SystemClock, faulted: str, slow_in_burn_in: bool = False) -> None:
        self._clock = clock
        self._faulted = faulted
        self._slow_in_burn_in = slow_in_burn_in
        self.window_opened: list[float] = []

    async def __call__(
        self, app_ids: Sequence[str], plan: ProbePlan
    ) -> Mapping[str, Sequence[Verdict]]:
        start_wall = self._clock.now()
        self.window_opened.append(self._clock.monotonic() + plan.burn_in_s)
        await asyncio.sleep(plan.burn_in_s + plan.window_s)
        if list(app_ids) == [self._faulted]:  # the confirmation window: healthy again
            return {self._faulted: _probe_verdicts(self._faulted, n=416)}
        opened = start_wall + timedelta(seconds=plan.burn_in_s)
        failing = [Timeslice(utc_iso(opened), utc_iso(opened + timedelta(seconds=0.5)), 8, 8, 0)]
        if self._slow_in_burn_in:
            early = opened - timedelta(seconds=plan.burn_in_s / 2)
            failing.insert(
                0, Timeslice(utc_iso(early - timedelta(seconds=0.1)), utc_iso(early), 8, 0, 1)
            )
        return {
            app_id: _probe_verdicts(app_id, failures=80, slices=failing)
            if app_id == self._faulted
            else _probe_verdicts(app_id)
            for app_id in app_ids
        }


def _fake_target(tmp_path: Path, processes: FakeProcesses, clock: SystemClock) -> DrillTarget:
    system_map = system_map_at({}, env="embedded")

    def answer(request: httpx.Request) -> httpx.Response:
        down = request.url.host.split(".")[0].upper() in processes.down
        return httpx.Response(503 if down else 200)

    return DrillTarget(
        system_map=system_map,
        faults=OfflineControl(system_map, Secret("REFTARGET_ADMIN_TOKEN", "not-a-token")),
        processes=processes,
        ledger=FaultLedger(tmp_path / "ledger.json"),
        client=httpx.AsyncClient(transport=httpx.MockTransport(answer)),
        clock=clock,
        test_id="drill unit test",
    )


@pytest.fixture
def short_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drills, "DETECTION", SHORT_DETECTION)
    monkeypatch.setattr(drills, "CONFIRMATION", SHORT_CONFIRMATION)


def _run(
    tmp_path: Path, windows: FakeWindows, phases: list[DrillPhase] | None = None
) -> tuple[DrillResult, FakeProcesses]:
    processes = FakeProcesses(tmp_path)

    async def run() -> DrillResult:
        target = _fake_target(tmp_path, processes, SystemClock())
        async with target.client:
            heard = phases if phases is not None else []
            return await run_drill(DRL_04, target, windows, heard.append)

    return asyncio.run(run()), processes


@pytest.mark.usefixtures("short_windows")
def test_a_restart_is_timed_from_the_restart_while_the_detection_window_still_runs(
    tmp_path: Path,
) -> None:
    clock = SystemClock()
    phases: list[DrillPhase] = []
    result, _ = _run(tmp_path, FakeWindows(clock, "A5"), phases)

    recovery_s = result.figures["recovery_s"]
    # the restart's own 0.3 s and the polls' answers; not the 2 s window's end
    assert RESTART_S <= recovery_s < SHORT_DETECTION.window_s / 2, result.figures
    recovery = next(v for v in result.verdicts if "recovery" in v.check)
    assert recovery.outcome is Outcome.PASS, recovery.summary()
    assert phases == ["inject", "detect/contain", "recover", "confirm"]


@pytest.mark.usefixtures("short_windows")
def test_the_fault_goes_in_as_the_burn_in_ends_and_an_earlier_slow_probe_is_no_detection(
    tmp_path: Path,
) -> None:
    clock = SystemClock()
    windows = FakeWindows(clock, "A5", slow_in_burn_in=True)
    injected: list[float] = []
    restart = FakeProcesses.restart

    def timed_restart(self: FakeProcesses, app_id: str) -> None:
        injected.append(clock.monotonic())
        restart(self, app_id)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FakeProcesses, "restart", timed_restart)
        result, _ = _run(tmp_path, windows)

    assert injected[0] >= windows.window_opened[0], "injected during the burn-in"
    detection_s = result.figures["detection_s"]
    assert detection_s is not None
    assert detection_s > 0.0  # the window's first failing slice, not the burn-in's slow probe


class UnseenFault(FakeWindows):
    """The faulted app's probes do not FAIL; ``saturated``: because the prober was behind
    (its measured FAIL turned INCONCLUSIVE by the liveness check's harness rule)."""

    def __init__(self, clock: SystemClock, faulted: str, *, saturated: bool) -> None:
        super().__init__(clock, faulted)
        self._saturated = saturated

    async def __call__(
        self, app_ids: Sequence[str], plan: ProbePlan
    ) -> Mapping[str, Sequence[Verdict]]:
        windows = dict(await super().__call__(app_ids, plan))
        if len(app_ids) > 1:
            clean = _probe_verdicts(self._faulted)
            if self._saturated:
                clean = tuple(
                    replace(v, outcome=Outcome.INCONCLUSIVE, reason=Reason.HARNESS_SATURATED)
                    for v in clean
                )
            windows[self._faulted] = clean
        return windows


@pytest.mark.usefixtures("short_windows")
@pytest.mark.parametrize(
    ("saturated", "outcome"), [(False, Outcome.FAIL), (True, Outcome.INCONCLUSIVE)]
)
def test_a_fault_the_liveness_did_not_see_fails_detection_unless_the_prober_was_behind(
    tmp_path: Path, saturated: bool, outcome: Outcome
) -> None:
    result, _ = _run(tmp_path, UnseenFault(SystemClock(), "A5", saturated=saturated))

    detection = next(v for v in result.verdicts if v.check == "DRL-04 detection")
    assert detection.outcome is outcome, detection.summary()
    if saturated:
        assert detection.reason is Reason.HARNESS_SATURATED


def _app(
    app_id: str, *, slow: int, behind: bool, forgiving: str | None = "PASS"
) -> tuple[Verdict, ...]:
    harness = {
        "behind_schedule": behind,
        "send_lag_p99_ms": 140.0 if behind else 3.0,
        "held_per_s": 127.9,
        "offered_per_s": 128.0,
    }
    details: dict[str, Any] = {"harness": harness}
    if forgiving is not None:
        details["forgiving_outcome"] = forgiving
    error, latency = _probe_verdicts(app_id)
    return (
        replace(error, details={**error.details, **details}),
        replace(latency, k=slow, details={**latency.details, **details}),
    )


def _slow_pool(**apps: tuple[Verdict, ...]) -> Verdict:
    pooled = pooled_slo(apps, "DRL-04 containment", "all but A5", {}, "other apps")
    return next(v for v in pooled if "slow_fraction" in v.check)


def test_a_pooled_fail_of_a_prober_behind_schedule_that_no_app_confirms_is_inconclusive() -> None:
    verdict = _slow_pool(A2=_app("A2", slow=20, behind=True), A3=_app("A3", slow=20, behind=True))

    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert verdict.reason is Reason.HARNESS_SATURATED
    assert "send lag p99 140.0 ms" in verdict.details["explanation"]
    assert (verdict.k, verdict.n) == (40, 320)


def test_a_pooled_fail_stays_a_fail_when_the_prober_kept_its_schedule() -> None:
    verdict = _slow_pool(A2=_app("A2", slow=20, behind=False), A3=_app("A3", slow=20, behind=False))

    assert verdict.outcome is Outcome.FAIL


def test_a_neighbour_failing_without_the_harness_delays_keeps_the_pooled_fail() -> None:
    verdict = _slow_pool(
        A2=_app("A2", slow=20, behind=True),
        A3=_app("A3", slow=20, behind=True, forgiving="FAIL"),
    )

    assert verdict.outcome is Outcome.FAIL
    assert verdict.details["fail_without_harness"] == ["A3"]


def test_a_part_that_cannot_say_without_the_harness_keeps_the_pooled_fail() -> None:
    verdict = _slow_pool(
        A2=_app("A2", slow=20, behind=True), A3=_app("A3", slow=20, behind=True, forgiving=None)
    )

    assert verdict.outcome is Outcome.FAIL


def test_a_pooled_pass_is_never_touched() -> None:
    verdict = _slow_pool(A2=_app("A2", slow=0, behind=True), A3=_app("A3", slow=0, behind=True))

    assert verdict.outcome is Outcome.PASS
