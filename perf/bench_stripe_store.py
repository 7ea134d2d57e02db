"""Does a charge cost more the more the embedded Stripe server already holds?

    .venv/bin/python perf/bench_stripe_store.py [--charges 1500] [--every 250]

Starts ``python -m reftarget.payments.stripe_server`` on loopback and makes ``--charges``
confirmed micro-charges one after another, as A6's billing does (``create_micro_charge``),
printing p50/p95 of each block of ``--every`` charges and, at the end, the last block's p50
over the first's. A ratio near 1 means a charge's cost does not depend on the store's size;
localstripe's own listing scanned the whole store (p50 6 ms after 250 charges, 52 ms after
1,500) until ``reftarget.payments.store_index`` indexed it by type.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import stripe

ECOSYSTEM = Path(__file__).resolve().parent.parent / "ecosystem"
sys.path.insert(0, str(ECOSYSTEM))

from reftarget.payments.charges import create_micro_charge  # noqa: E402
from reftarget.payments.readiness import wait_ready  # noqa: E402


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _quantile(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--charges", type=int, default=1500)
    parser.add_argument("--every", type=int, default=250)
    args = parser.parse_args()
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "reftarget.payments.stripe_server", "--port", str(port)],
        cwd=ECOSYSTEM,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, timeout_s=15.0)
        client = stripe.StripeClient(
            "sk_test_bench", base_addresses={"api": base}, max_network_retries=0
        )
        blocks: list[float] = []
        block: list[float] = []
        for n in range(1, args.charges + 1):
            start = time.perf_counter()
            create_micro_charge(
                client,
                amount_cents=1650,
                currency="usd",
                idempotency_key=f"bench-{n}",
                metadata={"bench": "store"},
            )
            block.append((time.perf_counter() - start) * 1000)
            if n % args.every == 0:
                block.sort()
                blocks.append(statistics.median(block))
                p95 = _quantile(block, 0.95)
                print(
                    f"charges {n - args.every + 1:5d}-{n:5d}: p50 {blocks[-1]:6.1f} ms  "
                    f"p95 {p95:6.1f} ms",
                    flush=True,
                )
                block = []
        if len(blocks) >= 2:
            print(f"last block's p50 / first block's p50: {blocks[-1] / blocks[0]:.2f}")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
