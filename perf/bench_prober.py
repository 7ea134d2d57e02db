"""How many probes per second the liveness prober holds before its own event loop lags.

    .venv/bin/python perf/bench_prober.py [--rates 100,200,300,500,800,1000,1500]
        [--seconds 3] [--schemes http,https] [--targets 1,8]

The prober alone (``run_probes``, through ``harness_client`` as the liveness check uses
it) against a minimal ASGI ``/health`` app under uvicorn, served by a child process on
127.0.0.1 (over HTTPS with a ``trustme`` certificate for the ``https`` rows). When the
machine has two or more cores, the prober is pinned to one and the server to another, so
the figures are the prober's, not the server's. ``--targets 8`` spreads the same total
rate over eight probe targets (A1–A8) of that one server.

Printed per step (the rate is the *total* probes per second): the rate achieved (probes
sent over the span from the first scheduled send to the last send), the scheduling lag
``sent_at - scheduled_at`` at p50 and p99, the share of failed probes, the prober
process's CPU time per probe, and the knee: the first step from which every step has a
lag p99 above 5 ms or a failed probe. docs/perf.md records the figures it printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from multiprocessing.queues import Queue
from pathlib import Path

import trustme
from secondconf.checks.liveness.prober import ProbeSample, ProbeTarget, run_probes
from secondconf.checks.liveness.transport import AiohttpProbeClient, HttpxProbeClient, ProbeClient
from secondconf.core.clock import SystemClock
from secondconf.target.client import harness_client

LAG_KNEE_MS = 5.0  # issue 16's goal: send lag p99 within 5 ms
PROBE_TIMEOUT_S = 2.0


async def _health(scope: dict[str, object], receive: object, send: object) -> None:
    """The smallest app that satisfies the prober: 200 ``{"status":"ok"}`` on any path."""
    if scope["type"] != "http":
        return
    body = b'{"status":"ok"}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"15")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": body})  # type: ignore[operator]


def _serve(port_queue: Queue[int], cert_file: str | None, cpu: int | None) -> None:
    """The child process: uvicorn on a free port of 127.0.0.1, its port sent back."""
    import socket

    import uvicorn

    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port_queue.put(sock.getsockname()[1])
    config = uvicorn.Config(
        _health,
        ssl_certfile=cert_file,
        ssl_keyfile=cert_file,
        lifespan="off",
        log_level="warning",
        access_log=False,
        backlog=4096,
    )
    uvicorn.Server(config).run(sockets=[sock])


def _wait_listening(port: int, timeout_s: float = 10.0) -> None:
    """Until the child's uvicorn accepts connections (it reports the port before)."""
    import socket

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@dataclass(frozen=True)
class Step:
    client: str
    scheme: str
    targets: int
    rate: float
    achieved: float
    lag_p50_ms: float
    lag_p99_ms: float
    error_share: float
    cpu_ms_per_probe: float

    @property
    def behind(self) -> bool:
        return self.lag_p99_ms > LAG_KNEE_MS or self.error_share > 0


def knee(steps: list[Step]) -> int | None:
    """The first step from which every step is behind: a lone lagging step below it (a
    cold server's first TLS handshakes) is noise, not the prober's limit."""
    index = len(steps)
    while index > 0 and steps[index - 1].behind:
        index -= 1
    return index if index < len(steps) else None


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


@contextlib.asynccontextmanager
async def _probe_client(name: str, url: str, ca_file: Path | None) -> AsyncIterator[ProbeClient]:
    if name == "httpx":
        async with harness_client(url, env="embedded", verify=ca_file or False) as client:
            yield HttpxProbeClient(client)
    else:
        async with AiohttpProbeClient(ca_file) as probe_client:
            yield probe_client


async def _step(
    client_name: str, url: str, ca_file: Path | None, targets: int, rate: float, seconds: float
) -> Step:
    probe_targets = [ProbeTarget(f"A{i + 1}", f"{url}/health", "health") for i in range(targets)]
    clock = SystemClock()
    async with _probe_client(client_name, url, ca_file) as client:
        cpu_before = time.process_time()
        samples: list[ProbeSample] = await run_probes(
            client,
            probe_targets,
            rate_per_target=rate / targets,
            duration_s=seconds,
            clock=clock,
            timeout_s=PROBE_TIMEOUT_S,
        )
        cpu = time.process_time() - cpu_before
    lags = [(s.sent_at - s.scheduled_at) * 1000 for s in samples]
    start = min(s.scheduled_at for s in samples)
    span = max(s.sent_at for s in samples) - start
    return Step(
        client=client_name,
        scheme=url.split(":", 1)[0],
        targets=targets,
        rate=rate,
        achieved=len(samples) / max(span, 1 / rate),
        lag_p50_ms=statistics.median(lags),
        lag_p99_ms=_quantile(lags, 0.99),
        error_share=sum(s.failed for s in samples) / len(samples),
        cpu_ms_per_probe=cpu * 1000 / len(samples),
    )


def _print(step: Step, first_knee: bool) -> None:
    print(
        f"| {step.client} | {step.scheme} | {step.targets} | {step.rate:g} | {step.achieved:.0f} | "
        f"{step.lag_p50_ms:.1f} | {step.lag_p99_ms:.1f} | {step.error_share:.1%} | "
        f"{step.cpu_ms_per_probe:.2f} | {'← knee' if first_knee else ''} |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rates", default="100,200,300,500,800,1000,1500")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--schemes", default="http,https")
    parser.add_argument("--targets", default="1,8")
    parser.add_argument("--clients", default="httpx,aiohttp", help="probe clients to compare")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    cores = sorted(os.sched_getaffinity(0))
    prober_cpu, server_cpu = (cores[0], cores[1]) if len(cores) >= 2 else (None, None)
    if prober_cpu is not None:
        os.sched_setaffinity(0, {prober_cpu})
    print(
        f"{time.strftime('%Y-%m-%d')}, {args.seconds:g} s per step, timeout {PROBE_TIMEOUT_S:g} s"
    )
    print(
        "| client | scheme | targets | probes/s offered | achieved | lag p50 ms | lag p99 ms | "
        "failed | CPU ms/probe | |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    spawn = multiprocessing.get_context("spawn")
    for scheme in args.schemes.split(","):
        with tempfile.TemporaryDirectory(prefix="bench-prober-") as folder:
            ca_file: Path | None = None
            cert_file: str | None = None
            if scheme == "https":
                ca = trustme.CA()
                ca_file = Path(folder) / "ca.pem"
                ca.cert_pem.write_to_path(str(ca_file))
                cert_file = str(Path(folder) / "server.pem")
                ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(cert_file)
            ports: Queue[int] = spawn.Queue()
            server = spawn.Process(target=_serve, args=(ports, cert_file, server_cpu), daemon=True)
            server.start()
            try:
                port = ports.get(timeout=10)
                _wait_listening(port)
                url = f"{scheme}://127.0.0.1:{port}"
                for client_name in args.clients.split(","):
                    for targets in (int(t) for t in args.targets.split(",")):
                        steps = [
                            asyncio.run(
                                _step(client_name, url, ca_file, targets, rate, args.seconds)
                            )
                            for rate in rates
                        ]
                        first_behind = knee(steps)
                        for index, step in enumerate(steps):
                            _print(step, index == first_behind)
            finally:
                server.terminate()
                server.join(10)


if __name__ == "__main__":
    main()
