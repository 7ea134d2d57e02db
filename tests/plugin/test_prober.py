"""The open-loop prober: probes on a fixed schedule, latency from the scheduled time.

A real server on loopback plays the target: a healthy ``/health``, a ``/ready`` that
answers 503, an endpoint that hangs until the module ends, and one that stalls every
request for 300 ms once armed, the way a GC pause or a blocked worker would.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from secondconf.checks.liveness.prober import (
    ProbeSample,
    ProbeTarget,
    probe_schedule,
    probe_targets,
    run_probes,
    to_observation,
)
from secondconf.checks.liveness.transport import AiohttpProbeClient, HttpxProbeClient, ProbeClient
from secondconf.contract.platform import APP_IDS
from secondconf.contract.traceids import is_valid_trace_id
from secondconf.core.clock import SystemClock
from secondconf.engine.window import Observation, StableWindowEvaluator
from secondconf.target.client import harness_client
from secondconf.target.map import AppEntry, SystemMap
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.loopback import serve

STALL_S = 0.3


@dataclass
class Stall:
    """Once armed, the ``after``-th request starts a stall: every request that arrives
    before it ends waits for its end. Times are ``time.monotonic()`` (SystemClock's)."""

    after: int = 0
    requests: int = 0
    started: float | None = None
    ends: float | None = None

    def arm(self, after: int) -> None:
        self.after, self.requests, self.started, self.ends = after, 0, None, None


@dataclass
class Fake:
    url: str
    stall: Stall
    seen: list[dict[str, str]] = field(default_factory=list)


def fake_target(stall: Stall, seen: list[dict[str, str]], release: threading.Event) -> Starlette:
    async def health(request: Request) -> Response:
        seen.append(dict(request.headers))
        return JSONResponse({"status": "ok", "app_id": "A1", "version": "1"})

    async def not_ready(request: Request) -> Response:
        return JSONResponse({"status": "not_ready", "checks": {}}, status_code=503)

    async def hang(request: Request) -> Response:
        while not release.is_set():
            await asyncio.sleep(0.02)
        return JSONResponse({"status": "ok"})

    async def stalling(request: Request) -> Response:
        now = time.monotonic()
        stall.requests += 1
        if stall.started is None and stall.after and stall.requests >= stall.after:
            stall.started, stall.ends = now, now + STALL_S
        if stall.ends is not None and now < stall.ends:
            await asyncio.sleep(stall.ends - now)
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/ready", not_ready),
            Route("/hang", hang),
            Route("/stalling", stalling),
        ]
    )


@pytest.fixture(scope="module")
def fake() -> Iterator[Fake]:
    stall, seen, release = Stall(), [], threading.Event()
    with serve(fake_target(stall, seen, release)) as served:
        yield Fake(served.url, stall, seen)
        release.set()  # let hung handlers finish so the server stops promptly


@pytest.fixture(params=["aiohttp", "httpx"])
def transport(request: pytest.FixtureRequest) -> str:
    """Every probe test runs on both probe clients (transport.py)."""
    return str(request.param)


@contextlib.asynccontextmanager
async def client_for(url: str, transport: str) -> AsyncIterator[ProbeClient]:
    if transport == "httpx":
        async with harness_client(url, env="embedded", timeout_s=5) as client:
            yield HttpxProbeClient(client)
    else:
        async with AiohttpProbeClient(None) as probe_client:
            yield probe_client


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def health(fake: Fake) -> ProbeTarget:
    return ProbeTarget("A1", f"{fake.url}/health", "health")


def test_the_schedule_spaces_probes_by_the_period_and_staggers_targets() -> None:
    schedule = list(probe_schedule(2, 10.0, 0.3))
    assert [index for _, index in schedule] == [0, 1, 0, 1, 0, 1]
    assert [offset for offset, _ in schedule] == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2, 0.25])


@pytest.mark.asyncio
async def test_the_probe_count_is_fixed_by_the_schedule(fake: Fake, transport: str) -> None:
    clock = SystemClock()
    async with client_for(fake.url, transport) as client:
        started = clock.monotonic()
        samples = await run_probes(
            client, [health(fake)], rate_per_target=40, duration_s=0.5, clock=clock
        )
    assert len(samples) == 20
    offsets = [s.scheduled_at - samples[0].scheduled_at for s in samples]
    assert offsets == pytest.approx([i / 40 for i in range(20)])
    assert samples[0].scheduled_at == pytest.approx(started, abs=0.01)
    assert not any(s.failed for s in samples)
    assert all(s.sent_at >= s.scheduled_at - 0.001 for s in samples)
    assert all(s.latency_ms >= (s.sent_at - s.scheduled_at) * 1000 for s in samples)


@pytest.mark.asyncio
async def test_each_probe_has_its_own_trace_id_and_the_synthetic_tags(
    fake: Fake, transport: str
) -> None:
    fake.seen.clear()
    async with client_for(fake.url, transport) as client:
        samples = await run_probes(
            client, [health(fake)], rate_per_target=50, duration_s=0.2, clock=SystemClock()
        )
    trace_ids = [s.trace_id for s in samples]
    assert len(set(trace_ids)) == len(samples) == 10
    assert all(is_valid_trace_id(t) for t in trace_ids)
    assert sorted(h["x-trace-id"] for h in fake.seen) == sorted(trace_ids)
    assert all((h["x-test-run"], h["x-source"]) == ("true", "qa") for h in fake.seen)
    assert all(s.wall_time.endswith("Z") for s in samples)


@pytest.mark.asyncio
async def test_probes_due_during_a_stall_carry_their_wait(fake: Fake, transport: str) -> None:
    """Open loop: every probe scheduled during the 300 ms stall shows the time it waited."""
    fake.stall.arm(after=5)
    async with client_for(fake.url, transport) as client:
        samples = await run_probes(
            client,
            [ProbeTarget("A1", f"{fake.url}/stalling", "health")],
            rate_per_target=50,
            duration_s=0.8,
            clock=SystemClock(),
        )
    assert fake.stall.started is not None
    assert fake.stall.ends is not None
    during = [s for s in samples if fake.stall.started <= s.scheduled_at < fake.stall.ends - 0.01]
    assert len(during) >= 10  # ~15 probes are due in 300 ms at 50/s
    for sample in during:
        waited_ms = (fake.stall.ends - sample.scheduled_at) * 1000
        assert sample.latency_ms >= waited_ms - 2
    assert sum(s.latency_ms >= 100 for s in samples) >= 9


async def closed_loop_latencies(
    client: ProbeClient, url: str, rate: float, duration_s: float
) -> list[float]:
    """The prober this module is not: send, wait for the answer, then send the next."""
    latencies: list[float] = []
    start = time.monotonic()
    due = start
    while due < start + duration_s:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        sent = time.monotonic()
        await client.get(url, {}, 5.0)
        latencies.append((time.monotonic() - sent) * 1000)
        due = max(due + 1 / rate, time.monotonic())
    return latencies


@pytest.mark.asyncio
async def test_a_closed_loop_would_hide_the_same_stall(fake: Fake, transport: str) -> None:
    """The comparison that shows what coordinated omission hides: one slow sample, not ~15."""
    fake.stall.arm(after=5)
    async with client_for(fake.url, transport) as client:
        latencies = await closed_loop_latencies(client, f"{fake.url}/stalling", 50, 0.8)
    assert fake.stall.started is not None
    assert sum(latency >= 150 for latency in latencies) <= 2
    assert len(latencies) <= 40 - 10  # and it sent fewer: the stall cost it ~15 of its 40 slots


@pytest.mark.asyncio
async def test_a_closed_port_gives_failed_connect_samples(transport: str) -> None:
    target = ProbeTarget("A2", f"http://127.0.0.1:{closed_port()}/health", "health")
    async with client_for("http://127.0.0.1", transport) as client:
        samples = await run_probes(
            client, [target], rate_per_target=20, duration_s=0.2, clock=SystemClock()
        )
    assert len(samples) == 4
    assert all((s.failed, s.error, s.status) == (True, "connect", None) for s in samples)


@pytest.mark.asyncio
async def test_a_503_ready_gives_failed_status_samples(fake: Fake, transport: str) -> None:
    target = ProbeTarget("A1", f"{fake.url}/ready", "ready")
    async with client_for(fake.url, transport) as client:
        samples = await run_probes(
            client, [target], rate_per_target=20, duration_s=0.2, clock=SystemClock()
        )
    assert len(samples) == 4
    assert all((s.failed, s.error, s.status) == (True, "status", 503) for s in samples)


@pytest.mark.asyncio
async def test_a_health_answer_naming_another_app_is_a_failed_body_sample(
    fake: Fake, transport: str
) -> None:
    target = ProbeTarget("A2", f"{fake.url}/health", "health")  # the server answers as A1
    async with client_for(fake.url, transport) as client:
        samples = await run_probes(
            client, [target], rate_per_target=20, duration_s=0.1, clock=SystemClock()
        )
    assert [(s.error, s.status) for s in samples] == [("body", 200), ("body", 200)]


@pytest.mark.asyncio
async def test_a_run_ends_by_duration_plus_timeout_when_the_target_hangs(
    fake: Fake, transport: str
) -> None:
    target = ProbeTarget("A1", f"{fake.url}/hang", "health")
    async with client_for(fake.url, transport) as client:
        started = time.monotonic()
        samples = await run_probes(
            client,
            [target],
            rate_per_target=10,
            duration_s=0.5,
            clock=SystemClock(),
            timeout_s=0.4,
        )
        elapsed = time.monotonic() - started
    assert elapsed < 0.5 + 0.4 + 0.4  # duration + timeout, and slack for a loaded machine
    assert len(samples) == 5
    assert all(s.error == "timeout" for s in samples)
    assert all(s.latency_ms == pytest.approx(400, abs=60) for s in samples)


@pytest.mark.asyncio
async def test_stop_ends_the_schedule_early(fake: Fake, transport: str) -> None:
    checks: list[bool] = []

    def stop_after_five() -> bool:  # asked once before each probe is fired
        checks.append(len(checks) >= 5)
        return checks[-1]

    async with client_for(fake.url, transport) as client:
        started = time.monotonic()
        samples = await run_probes(
            client,
            [health(fake)],
            rate_per_target=50,
            duration_s=5.0,
            clock=SystemClock(),
            stop=stop_after_five,
        )
        elapsed = time.monotonic() - started
    assert len(samples) == 5  # the five already fired still complete
    assert not any(s.failed for s in samples)
    assert elapsed < 1.0


@pytest.mark.asyncio
async def test_samples_feed_the_stable_window_on_the_same_clock(fake: Fake, transport: str) -> None:
    clock = SystemClock()
    evaluator = StableWindowEvaluator(clock=clock, burn_in_s=0.0, window_s=60.0)
    async with client_for(fake.url, transport) as client:
        samples = await run_probes(
            client,
            [health(fake)],
            rate_per_target=40,
            duration_s=0.25,
            clock=clock,
            on_sample=lambda s: evaluator.observe(to_observation(s)),
        )
    error, _ = evaluator.verdicts()
    assert (error.n, error.k) == (len(samples), 0) == (10, 0)


def test_to_observation_uses_the_scheduled_time_and_the_outcome() -> None:
    sample = ProbeSample(
        "A1", "ready", 12.5, 12.75, 503, 250.0, "status", "a" * 32, "2026-01-01T00:00:00Z", 12.75
    )
    assert to_observation(sample) == Observation(at=12.5, failed=True, latency_ms=250.0)


def test_a_map_gives_a_health_and_a_ready_target_per_app() -> None:
    apps = {
        a: AppEntry(a, f"https://{a.lower()}.test", "r", "/health", "/ready", "v", ())
        for a in APP_IDS
    }
    system_map = SystemMap("staging", "2026-01-01T00:00:00Z", apps, "", "", "qa", None, None)
    assert probe_targets(system_map, ["A3"]) == [
        ProbeTarget("A3", "https://a3.test/health", "health"),
        ProbeTarget("A3", "https://a3.test/ready", "ready"),
    ]
    assert len(probe_targets(system_map)) == 16


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("rate", "duration", "timeout"),
    [(0.0, 1.0, 1.0), (1.0, -1.0, 1.0), (1.0, 1.0, 0.0), (float("inf"), 1.0, 1.0)],
)
async def test_impossible_settings_are_refused(
    rate: float, duration: float, timeout: float
) -> None:
    never_called = httpx.MockTransport(lambda request: httpx.Response(500))
    async with httpx.AsyncClient(transport=never_called) as client:
        with pytest.raises(ValueError, match="must be"):
            await run_probes(
                HttpxProbeClient(client),
                [ProbeTarget("A1", "http://127.0.0.1:1/health", "health")],
                rate_per_target=rate,
                duration_s=duration,
                clock=SystemClock(),
                timeout_s=timeout,
            )
