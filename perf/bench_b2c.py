"""Benchmark of the B2C phase: 35 journeys in Chromium against the embedded ecosystem.

    .venv/bin/python perf/bench_b2c.py [--journeys 35] [--concurrency 6] [--runs 1]

Measures the phase as the gate runs it (``run_funnel`` with the default plan and an
evidence folder, so every journey is traced as in the gate: pre-clean, journeys in parallel
contexts, tile polling, settlements, Stripe retrieval, header probes, cleanup), not the
ecosystem's start. Figures:

- wall time of the phase and of each of its parts (goal: under 60 s on this machine);
- peak memory, sampled every 0.2 s from /proc as the summed PSS of the process trees:
  the harness (this Python process), the browser (Playwright's driver and every Chromium
  process), and the reference apps (for scale; they are not the harness's cost);
- the run's figures: journey success, the Wilson bound, tile latency p50/p95/max.

PSS splits each shared page among the processes sharing it, so the sum counts it once (RSS
would count Chromium's shared pages once per process). The core count and load average are
printed beside the figures: the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import threading
import time
from pathlib import Path

from reftarget.launch.ecosystem import Ecosystem
from secondconf.checks.funnels.judge import judge_funnel
from secondconf.checks.funnels.run import FunnelPlan, FunnelSecrets, run_funnel
from secondconf.core.clock import SystemClock
from secondconf.core.secret import Secret
from secondconf.target.client import harness_client
from secondconf.target.map import load_system_map

GOAL_S = 60.0
SAMPLE_S = 0.2


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(parent, []).append(int(entry))
    return tree


def _rss_kib(pid: int) -> int:
    """The process's proportional set size (shared pages split among their sharers), else
    its RSS: Chromium's processes share much of their memory, so RSS would count it N times."""
    for path, field in ((f"/proc/{pid}/smaps_rollup", "Pss:"), (f"/proc/{pid}/status", "VmRSS:")):
        try:
            with open(path) as status:
                for line in status:
                    if line.startswith(field):
                        return int(line.split()[1])
        except OSError:
            continue
    return 0


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmd:
            return cmd.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class MemorySampler(threading.Thread):
    """Peak summed RSS of this process, its browser tree and its other children (the apps)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = {"harness_mib": 0.0, "browser_mib": 0.0, "apps_mib": 0.0, "total_mib": 0.0}
        self._done = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self._done.is_set():
            tree = _children()
            browser = apps = 0
            pending = list(tree.get(me, []))
            roots: dict[int, str] = {}
            for child in pending:
                line = _cmdline(child)
                roots[child] = "browser" if ("playwright" in line or "chrom" in line) else "apps"
            while pending:
                pid = pending.pop()
                kind = roots.get(pid) or "apps"
                for grandchild in tree.get(pid, []):
                    roots[grandchild] = kind
                    pending.append(grandchild)
                if kind == "browser":
                    browser += _rss_kib(pid)
                else:
                    apps += _rss_kib(pid)
            now = {
                "harness_mib": _rss_kib(me) / 1024,
                "browser_mib": browser / 1024,
                "apps_mib": apps / 1024,
            }
            now["total_mib"] = now["harness_mib"] + now["browser_mib"]
            for key, value in now.items():
                self.peak[key] = max(self.peak[key], round(value, 1))
            self._done.wait(SAMPLE_S)

    def stop(self) -> None:
        self._done.set()
        self.join()


def bench(journeys: int, concurrency: int) -> dict[str, object]:
    with Ecosystem(state_dir=Path(tempfile.mkdtemp(prefix="bench-b2c-"))) as eco:
        system_map = load_system_map(eco.system_map_path, environ={})
        env = eco.secrets_env
        secrets = FunnelSecrets(
            a8_key=Secret("A8_TELEMETRY_KEY", env["A8_TELEMETRY_KEY"]),
            client_secret=Secret("OIDC_CLIENT_SECRET", env["OIDC_CLIENT_SECRET"]),
            password=Secret("OIDC_CLIENT_SECRET", env["OIDC_CLIENT_SECRET"]),
            stripe_key=Secret("STRIPE_SECRET_KEY", env["STRIPE_SECRET_KEY"]),
        )
        # As the gate: every journey traced, a failing one's trace and screenshot kept.
        evidence = Path(tempfile.mkdtemp(prefix="bench-b2c-evidence-"))
        plan = FunnelPlan(journeys=journeys, concurrency=concurrency, evidence_dir=evidence)

        async def run():  # type: ignore[no-untyped-def]
            async with harness_client(system_map, env="embedded") as client:
                return await run_funnel(client, system_map, secrets, plan, SystemClock())

        sampler = MemorySampler()
        sampler.start()
        started = time.perf_counter()
        result = asyncio.run(run())
        wall = time.perf_counter() - started
        sampler.stop()
        verdicts = {
            v.details["rule"] + (f" {v.subject}" if v.details["rule"] == "B2C-02" else ""): v
            for v in judge_funnel(result, system_map.browser_login)
        }
        overall = verdicts["B2C-01"]
        tiles = verdicts["B2C-04"]
        return {
            "journeys": journeys,
            "concurrency": concurrency,
            "wall_time_s": round(wall, 2),
            "goal_s": GOAL_S,
            "phases_s": dict(result.phases_s),
            "peak_memory": sampler.peak,
            "success": f"{overall.n - overall.k}/{overall.n}",
            "success_lower_bound": overall.details.get("success_lower_bound"),
            "outcome": overall.outcome.value,
            "tile_latency_s": tiles.details.get("latency"),
            "failing": [v.summary() for v in verdicts.values() if v.outcome.value != "PASS"],
            "cores": os.cpu_count(),
            "load_average": os.getloadavg(),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=35)
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    for _ in range(args.runs):
        print(json.dumps(bench(args.journeys, args.concurrency), indent=2))


if __name__ == "__main__":
    main()
