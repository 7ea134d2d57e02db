"""Benchmark of the embedded ecosystem: cold start to all-ready, and /health latency under load.

    .venv/bin/python perf/bench_ecosystem.py [--rate 200] [--seconds 10] [--starts 1]

1. Cold start: wall time from ``Ecosystem.start_all()`` to every ``/ready`` answering 200
   (Stripe server + eight apps, fresh state directory). Target: <= 10 s.
2. /health p95 per app while all eight are probed together at ``--rate`` requests/s in
   total (round-robin) for ``--seconds``. Requests follow a fixed schedule and latency is
   measured from the *scheduled* send time, so a stalled server shows up as latency
   instead of silently slowing the load (no coordinated omission). Target: p95 <= 20 ms.

The core count is printed beside the figures: the load generator shares the machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import ssl
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

from reftarget.core.tls import client_ssl_context
from reftarget.launch.ecosystem import Ecosystem

COLD_START_TARGET_S = 10.0
P95_TARGET_MS = 20.0
SETTLE_S = 2.0  # let the freshly started apps finish their first background work


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in [0, 1])."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def measure_cold_start() -> float:
    with tempfile.TemporaryDirectory(prefix="reftarget-bench-") as state:
        started = time.perf_counter()
        eco = Ecosystem(Path(state))
        try:
            eco.start_all()
            return time.perf_counter() - started
        finally:
            eco.close()


class HealthProbe:
    """``GET /health`` over one persistent TLS connection, parsed by hand.

    The load generator shares two cores with nine servers, so it must be cheap: a blocking
    TLS socket and a minimal HTTP/1.1 exchange cost a fraction of a general-purpose client.
    """

    def __init__(self, base_url: str, context: ssl.SSLContext) -> None:
        parts = urlsplit(base_url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 443
        raw = socket.create_connection((host, port), timeout=10.0)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = context.wrap_socket(raw, server_hostname=host)
        self._request = f"GET /health HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
        self._buffer = b""

    def get(self) -> int:
        """Send one request and read the whole response; returns the status code."""
        self._sock.sendall(self._request)
        while b"\r\n\r\n" not in self._buffer:
            self._buffer += self._read()
        head, _, rest = self._buffer.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            rest += self._read()
        self._buffer = rest[length:]
        return int(head.split(b" ", 2)[1])

    def _read(self) -> bytes:
        chunk = self._sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        return chunk

    def close(self) -> None:
        self._sock.close()


def probe_health(
    base_urls: dict[str, str], ca_pem: Path, rate: float, seconds: float
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Round-robin ``GET /health`` on a fixed schedule; latency (ms) from the scheduled time.

    One thread and one keep-alive connection per app, each taking every eighth slot of the
    schedule. A request whose slot has passed goes out at once and its wait counts as
    latency, so a stalled server cannot hide by slowing the load (the wrk2 correction).
    """
    apps = sorted(base_urls)
    context = client_ssl_context(ca_pem)
    probes = {app_id: HealthProbe(base_urls[app_id], context) for app_id in apps}
    for probe in probes.values():
        probe.get()  # handshake and first request before the clock starts
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    interval = 1.0 / rate
    start = time.perf_counter() + 0.2
    total = int(rate * seconds)

    def run(index: int, app_id: str) -> None:
        probe = probes[app_id]
        for n in range(index, total, len(apps)):
            scheduled = start + n * interval
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            try:
                ok = probe.get() == 200
            except (OSError, ValueError):
                ok = False
            if ok:
                latencies[app_id].append((time.perf_counter() - scheduled) * 1000)
            else:
                errors[app_id] += 1

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(apps)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for probe in probes.values():
        probe.close()
    return latencies, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests/s in total")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--starts", type=int, default=1, help="cold starts to time")
    args = parser.parse_args()
    cores = os.cpu_count()
    print(f"cores: {cores}")

    starts = [measure_cold_start() for _ in range(args.starts)]
    worst = max(starts)
    verdict = "ok" if worst <= COLD_START_TARGET_S else "OVER TARGET"
    print(
        f"cold start to all-ready: {', '.join(f'{s:.2f} s' for s in starts)} "
        f"(target <= {COLD_START_TARGET_S:.0f} s: {verdict})"
    )

    with (
        tempfile.TemporaryDirectory(prefix="reftarget-bench-") as state,
        Ecosystem(Path(state)) as eco,
    ):
        system_map = json.loads(eco.system_map_path.read_text())
        base_urls = {app: entry["base_url"] for app, entry in system_map["apps"].items()}
        time.sleep(SETTLE_S)
        latencies, errors = probe_health(
            base_urls, Path(system_map["ca_bundle"]), args.rate, args.seconds
        )
    print(
        f"/health under {args.rate:.0f} req/s in total for {args.seconds:.0f} s "
        f"(fixed schedule, latency from the scheduled send time; cores: {cores})"
    )
    print(f"{'app':<4} {'n':>5} {'err':>4} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for app_id in sorted(base_urls):
        samples = latencies[app_id]
        if not samples:
            print(f"{app_id:<4} {0:>5} {errors[app_id]:>4}   (no successful request)")
            continue
        print(
            f"{app_id:<4} {len(samples):>5} {errors[app_id]:>4} "
            f"{percentile(samples, 0.50):>8.2f} {percentile(samples, 0.95):>8.2f} "
            f"{percentile(samples, 0.99):>8.2f} {max(samples):>8.2f}"
        )
    worst_p95 = max(percentile(s, 0.95) for s in latencies.values() if s)
    verdict = "ok" if worst_p95 <= P95_TARGET_MS else "OVER TARGET"
    print(f"worst /health p95: {worst_p95:.2f} ms (target <= {P95_TARGET_MS:.0f} ms: {verdict})")


if __name__ == "__main__":
    main()
