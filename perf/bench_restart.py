"""How long a reference app takes to restart, stop and start apart (the drills' DRL-04).

    .venv/bin/python perf/bench_restart.py [--app A5] [--repeats 5] [--keep-alive]

Starts the embedded ecosystem, then restarts one app ``--repeats`` times as the launcher
does (``stop``, then a new process), timing the stop, the new process's first ``/health``
200 and its first ``/ready`` 200 (polled every 20 ms), and the new process's CPU time
until then (its ``/proc`` figures: what a restart takes from the cores its neighbours
share). ``--keep-alive`` holds a client connection to the app open across the stop, as
the drills' prober does. Also printed: the machine's load average at each restart, since
on two shared cores it decides most of the figure. docs/checks/drills.md records them.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import httpx
from reftarget.core.tls import client_ssl_context
from reftarget.launch.ecosystem import Ecosystem

POLL_S = 0.02


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def restart_once(
    eco: Ecosystem, app_id: str, http: httpx.Client, keep_alive: bool
) -> dict[str, float]:
    url = eco.base_url(app_id)
    if keep_alive:
        http.get(url + "/health")
    started = time.monotonic()
    eco.stop(app_id)
    stopped = time.monotonic()
    eco._spawn(app_id)  # the launcher's own start, without its /ready wait
    pid = eco.process_ids()[app_id]
    health = ready = None
    while ready is None:
        now = time.monotonic()
        try:
            if health is None and http.get(url + "/health").status_code == 200:
                health = now
            if health is not None and http.get(url + "/ready").status_code == 200:
                ready = now
        except httpx.HTTPError:
            pass
        time.sleep(POLL_S)
    return {
        "stop_s": round(stopped - started, 3),
        "health_s": round(health - stopped, 3),
        "ready_s": round(ready - stopped, 3),
        "restart_s": round(ready - started, 3),
        "start_cpu_s": round(_cpu_s(pid), 2),
        "load_1m": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app", default="A5")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep-alive", action="store_true")
    args = parser.parse_args()
    with Ecosystem() as eco:
        context = client_ssl_context(eco.topology.tls.ca_pem)
        with httpx.Client(verify=context, trust_env=False, timeout=2.0) as http:
            for _ in range(args.repeats):
                print(json.dumps(restart_once(eco, args.app, http, args.keep_alive)), flush=True)


if __name__ == "__main__":
    main()
