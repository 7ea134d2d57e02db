"""The prober never blames a target for its own delays: a starved prober against a
healthy target is INCONCLUSIVE (HARNESS_SATURATED), a slow target it keeps up with FAILs.

A loopback server plays A1 (and answers nothing as A8, so the telemetry side is
unavailable and only the probe verdicts are judged here).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from secondconf.checks.liveness.loop_stalls import LoopStalls
from secondconf.checks.liveness.measure import LATENCY_CHECK, LivenessPlan, measure_liveness
from secondconf.checks.liveness.prober import ProbeSample
from secondconf.checks.liveness.saturation import (
    ProberCapacityError,
    forgive_harness,
    forgiving_observation,
    measure_load,
    refuse_above_capacity,
)
from secondconf.core.clock import SystemClock
from secondconf.core.secret import Secret
from secondconf.engine.verdict import Outcome, Reason, Verdict
from secondconf.target.a8 import A8Client
from secondconf.target.map import AppEntry, SystemMap
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.loopback import serve

SLOW_S = 0.4  # far above the 120 ms SLO, so harness delays cannot explain it away
PLAN = LivenessPlan(burn_in_s=0.3, window_s=3.0, rate_per_target=25.0, telemetry_deadline_s=1.0)


def _target() -> Starlette:
    async def health(request: Request) -> JSONResponse:
        if request.path_params["speed"] == "slow":
            await asyncio.sleep(SLOW_S)
        return JSONResponse({"status": "ok", "app_id": "A1"})

    async def ready(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ready", "checks": {}})

    return Starlette(routes=[Route("/{speed}/health", health), Route("/{speed}/ready", ready)])


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve(_target()) as served:
        yield served.url


def _map(url: str, speed: str) -> SystemMap:
    apps = {
        app: AppEntry(app, url, "r", f"/{speed}/health", f"/{speed}/ready", "v", ())
        for app in ("A1", "A8")
    }
    return SystemMap("embedded", "2026-01-01T00:00:00Z", apps, url, url, "qa", None, None)


async def _hog(until: float) -> None:
    """The prober's own loop blocked 150 ms of every 200 ms: a starved harness."""
    while time.monotonic() < until:
        time.sleep(0.15)
        await asyncio.sleep(0.05)


async def _probe_latency(url: str, speed: str, starved: bool) -> Verdict:
    system_map = _map(url, speed)
    clock = SystemClock()
    async with httpx.AsyncClient() as client:
        a8 = A8Client(client, system_map, Secret("A8_TELEMETRY_KEY", "k"))
        hog = asyncio.create_task(_hog(time.monotonic() + 4.0)) if starved else None
        result = await measure_liveness(client, system_map, a8, PLAN, clock, app_ids=["A1"])
        if hog is not None:
            await hog
    (latency,) = [
        v for v in result.for_app("A1") if v.check == LATENCY_CHECK and v.source == "probe"
    ]
    return latency


def test_a_starved_prober_against_a_healthy_target_is_inconclusive_not_fail(url: str) -> None:
    verdict = asyncio.run(_probe_latency(url, "fast", starved=True))
    assert verdict.outcome is Outcome.INCONCLUSIVE, verdict.summary()
    assert verdict.reason is Reason.HARNESS_SATURATED
    assert "the prober held" in verdict.details["explanation"]
    assert verdict.details["harness"]["loop_stalls"] > 5
    assert verdict.details["harness"]["behind_schedule"] is True
    assert verdict.details["forgiving_outcome"] != "FAIL"


def test_a_slow_target_at_a_rate_the_prober_holds_still_fails(url: str) -> None:
    verdict = asyncio.run(_probe_latency(url, "slow", starved=False))
    assert verdict.outcome is Outcome.FAIL, verdict.summary()
    assert verdict.details["forgiving_outcome"] == "FAIL"


def test_a_healthy_target_is_never_failed(url: str) -> None:
    """PASS on a quiet machine; on a loaded one (CI) the harness's delays may make it
    INCONCLUSIVE, but they never make it a FAIL."""
    verdict = asyncio.run(_probe_latency(url, "fast", starved=False))
    assert verdict.outcome is not Outcome.FAIL, verdict.summary()
    assert verdict.details["harness"]["probes"] == 150


def _sample(latency_ms: float, sent_late_s: float, error: str | None = None) -> ProbeSample:
    return ProbeSample(
        "A1", "health", 10.0, 10.0 + sent_late_s, 200, latency_ms, error,  # type: ignore[arg-type]
        "a" * 32, "2026-01-01T00:00:00Z", 10.0 + latency_ms / 1000,
    )  # fmt: skip


@pytest.mark.asyncio
async def test_loop_stalls_are_found_and_counted_against_probes_in_flight() -> None:
    async with LoopStalls(time.monotonic) as stalls:
        await asyncio.sleep(0.03)
        before = time.monotonic()
        time.sleep(0.1)  # the loop can run nothing for 100 ms
        after = time.monotonic()
        await asyncio.sleep(0.03)
    assert stalls.count >= 1
    assert stalls.within(before - 0.01, after + 0.01) == pytest.approx(0.1, abs=0.02)
    assert stalls.within(after + 0.02, after + 0.03) < 0.05  # no 100 ms stall there


@pytest.mark.asyncio
async def test_a_timeout_the_harness_ate_into_is_no_error_in_the_forgiving_view() -> None:
    async with LoopStalls(time.monotonic) as stalls:
        pass
    late = forgiving_observation(_sample(2000.0, 0.5, "timeout"), stalls, timeout_s=2.0)
    on_time = forgiving_observation(_sample(2000.0, 0.0, "timeout"), stalls, timeout_s=2.0)
    assert (late.failed, late.latency_ms) == (False, 1500.0)
    assert (on_time.failed, on_time.latency_ms) == (True, 2000.0)
    load = measure_load([_sample(10.0, 0.5)], stalls, offered_per_s=10.0)
    assert load.send_lag_p99_ms == 500.0


def _verdict(outcome: Outcome) -> Verdict:
    return Verdict(
        check="p95_latency_ms", source="probe", outcome=outcome, reason=Reason.BOUND_CLEARS,
        threshold=120.0, estimate=100.0, lower=90.0, upper=130.0, method="order statistics",
        alpha=0.05, n=100, k=0, subject="A1",
    )  # fmt: skip


@pytest.mark.asyncio
async def test_only_a_fail_the_forgiving_view_does_not_confirm_is_the_harnesses() -> None:
    async with LoopStalls(time.monotonic) as stalls:
        pass
    load = measure_load([_sample(10.0, 0.1)], stalls, offered_per_s=10.0)  # 100 ms behind
    on_time = measure_load([_sample(10.0, 0.001)], stalls, offered_per_s=10.0)
    assert (load.behind, on_time.behind) == (True, False)
    fail, passed = _verdict(Outcome.FAIL), _verdict(Outcome.PASS)
    inconclusive = replace(passed, outcome=Outcome.INCONCLUSIVE)
    assert forgive_harness(fail, fail, load).outcome is Outcome.FAIL
    assert forgive_harness(fail, passed, load).reason is Reason.HARNESS_SATURATED
    assert forgive_harness(fail, inconclusive, load).outcome is Outcome.INCONCLUSIVE
    assert forgive_harness(fail, passed, on_time).outcome is Outcome.FAIL  # kept its schedule
    assert forgive_harness(passed, fail, load).outcome is Outcome.PASS  # never possible in
    # practice (forgiving only lowers latencies), and a PASS is the measured view's


def test_a_rate_above_the_measured_capacity_is_refused_in_one_line() -> None:
    refuse_above_capacity(8.0, 16)
    with pytest.raises(ProberCapacityError, match=r"= 1600 probes/s, above .* capacity") as error:
        refuse_above_capacity(100.0, 16)
    assert "\n" not in str(error.value)
