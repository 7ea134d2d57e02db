"""locust, run in its own process, and what its stats say: the command, the run, the JSON.

locust is never imported here (it monkey-patches the standard library with gevent on
import, and installs a pytest plugin): it lives in its own virtualenv (``.venv-locust``,
made by ``scripts/setup.sh``) and runs as ``locust --headless`` in a subprocess with a
bounded timeout, its final stats written with ``--json-file`` (exact per-endpoint counts;
the ``--csv`` totals lag behind the real ones). Headless and local, locust opens no
listening socket; the web UI's bind address is still pinned to loopback.

Both the virtualenv and the locust profiles (``perf/``) are found from the project root
(pytest's rootdir, :attr:`secondconf.settings.HarnessSettings.project_root`), never from
where this package is installed.

Locust rounds each response time into a bucket (1 ms below 100 ms, 10 ms up to 1 s,
100 ms up to 10 s, 1 s beyond); :func:`bucket_range` says which times a bucket may hold,
for judging a percentile safely against that rounding (:mod:`.baseline`).
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from secondconf.contract.platform import SECRET_ENV_VARS
from secondconf.core.clock import Clock, utc_iso
from secondconf.core.progress import ProgressReport, ProgressThrottle

LOCUST_ENV: Final = "SECONDCONF_LOCUST"
LOCUST_IN_PROJECT: Final = Path(".venv-locust") / "bin" / "locust"
BASELINE_PROFILE: Final = Path("perf") / "locustfile_baseline.py"
LOOPBACK: Final = "127.0.0.1"
NOMINAL_HOST: Final = f"https://{LOOPBACK}"  # every request uses an absolute URL from the map
# Besides the run itself: locust's start (about 1 s) and its stop timeout.
TIMEOUT_GRACE_S: Final = 30.0
WORKERS_MAX_WAIT_S: Final = 20.0  # the master gives up when its workers have not come
WORKER_DIR_ENV: Final = "SECONDCONF_LOCUST_WORKER_DIR"  # perf/locust_worker_totals.py
WORKER_EXIT_S: Final = 15.0  # a worker's wait for its master's quit message


class BaselineError(Exception):
    """The baseline run could not be made or read: one line says why."""


@dataclass(frozen=True)
class EndpointStats:
    """One endpoint's final figures from locust's JSON stats."""

    name: str  # "<app> <route>", e.g. "A1 /health"
    method: str
    num_requests: int
    num_failures: int
    num_none_requests: int
    response_times: Mapping[int, int]  # locust's bucketed ms -> count
    max_response_time: float | None

    @property
    def app_id(self) -> str:
        return self.name.split(" ", 1)[0]

    @property
    def route(self) -> str:
        return self.name.split(" ", 1)[-1]

    @property
    def timed(self) -> int:
        """Requests with a response time (locust keeps none for a few connection errors)."""
        return sum(self.response_times.values())

    def percentile(self, q: float) -> float | None:
        """Locust's own percentile over its histogram (the figure it prints)."""
        if not self.response_times:
            return None
        return float(locust_percentile(self.response_times, self.timed, q))

    def figures(self) -> dict[str, Any]:
        return {
            "endpoint": self.name,
            "method": self.method,
            "num_requests": self.num_requests,
            "num_failures": self.num_failures,
            "num_none_requests": self.num_none_requests,
            "p50_ms": self.percentile(0.50),
            "p95_ms": self.percentile(0.95),
            "p99_ms": self.percentile(0.99),
            "max_ms": self.max_response_time,
        }


@dataclass(frozen=True)
class LocustRun:
    """How one locust run was made: the baseline report's ``run`` section."""

    users: int
    spawn_rate: float
    duration_s: float
    rate_per_user: float
    elapsed_s: float
    start: str
    end: str
    locust_exit_code: int
    command: tuple[str, ...]  # the executable by name only: its path is the machine's
    stats_file: str
    system_map: str
    workers: tuple[Mapping[str, Any], ...] = ()  # each worker's own totals (distributed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "spawn_rate": self.spawn_rate,
            "duration_s": self.duration_s,
            "rate_per_user": self.rate_per_user,
            "elapsed_s": self.elapsed_s,
            "start": self.start,
            "end": self.end,
            "locust_exit_code": self.locust_exit_code,
            "command": list(self.command),
            "stats_file": self.stats_file,
            "system_map": self.system_map,
            "workers": [dict(w) for w in self.workers],
        }


def locust_bin(project_root: Path, environ: Mapping[str, str] = os.environ) -> Path:
    """``$SECONDCONF_LOCUST``, else ``<project root>/.venv-locust/bin/locust``."""
    return Path(environ.get(LOCUST_ENV) or project_root / LOCUST_IN_PROJECT)


def baseline_locustfile(project_root: Path) -> Path:
    """The baseline profile, ``<project root>/perf/locustfile_baseline.py``."""
    return project_root / BASELINE_PROFILE


def build_command(
    locust: Path,
    locustfile: Path,
    *,
    users: int,
    spawn_rate: float,
    duration_s: float,
    out: Path,
    workers: int = 0,
    master_port: int = 0,
) -> list[str]:
    """The locust command line: headless, loopback web bind; local, or with ``workers``
    the master of that many workers (bound to loopback on ``master_port``)."""
    distributed = (
        [
            "--master",
            "--master-bind-host",
            LOOPBACK,
            "--master-bind-port",
            str(master_port),
            "--expect-workers",
            str(workers),
            "--expect-workers-max-wait",
            f"{WORKERS_MAX_WAIT_S:g}",
        ]
        if workers
        else []
    )
    return [
        str(locust),
        "-f",
        str(locustfile),
        "--headless",
        "--users",
        str(users),
        "--spawn-rate",
        f"{spawn_rate:g}",
        "--run-time",
        f"{math.ceil(duration_s)}s",
        "--host",
        NOMINAL_HOST,
        "--web-host",
        LOOPBACK,
        "--only-summary",
        "--stop-timeout",
        "5",
        "--json-file",
        str(out),  # locust appends ".json"
        "--csv",
        str(out),  # for reading only; the verdicts use the JSON (CSV totals lag behind)
        "--loglevel",
        "WARNING",
        *distributed,
    ]


def worker_command(locust: Path, locustfile: Path, master_port: int) -> list[str]:
    """One worker of a distributed run, on this machine (``README``: on others too)."""
    return [
        str(locust),
        "-f",
        str(locustfile),
        "--worker",
        "--master-host",
        LOOPBACK,
        "--master-port",
        str(master_port),
        "--loglevel",
        "WARNING",
    ]


def run_locust(
    locust: Path,
    locustfile: Path,
    system_map_path: Path,
    ca_bundle: Path | str | None,
    *,
    users: int,
    spawn_rate: float,
    duration_s: float,
    rate_per_user: float,
    out_dir: Path,
    clock: Clock,
    workers: int = 0,
    progress: ProgressThrottle | None = None,
) -> tuple[dict[str, EndpointStats], LocustRun]:
    """Run ``locustfile`` headless against the map's apps; its stats and how it ran.

    :class:`BaselineError` when locust or the profile is missing, locust does not finish
    in time, or its stats cannot be read. Exit code 1 (some request failed) is a result,
    not an error: the stats say what failed.
    """
    if not Path(locust).is_file():
        raise BaselineError(
            f"locust not found at {locust}: run scripts/setup.sh (it makes .venv-locust) "
            f"or set {LOCUST_ENV}"
        )
    if not Path(locustfile).is_file():
        raise BaselineError(
            f"locust profile not found at {locustfile}: the project root (pytest's rootdir) "
            f"must hold {BASELINE_PROFILE.parent}/"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "baseline"
    json_file = out.with_name(out.name + ".json")
    json_file.unlink(missing_ok=True)
    master_port = free_loopback_port() if workers else 0
    command = build_command(
        locust,
        locustfile,
        users=users,
        spawn_rate=spawn_rate,
        duration_s=duration_s,
        out=out,
        workers=workers,
        master_port=master_port,
    )
    worker_dir = out_dir / "workers"
    shutil.rmtree(worker_dir, ignore_errors=True)
    worker_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV_VARS}
    env.update(
        SECONDCONF_SYSTEM_MAP=str(system_map_path),
        SECONDCONF_CA_BUNDLE=str(ca_bundle or ""),
        SECONDCONF_BASELINE_RATE_PER_USER=f"{rate_per_user:g}",
        **{WORKER_DIR_ENV: str(worker_dir)},
    )
    env.pop("LOCUST_SKIP_MONKEY_PATCH", None)  # locust must patch, in its own process
    timeout_s = duration_s + TIMEOUT_GRACE_S
    started, t0 = clock.now(), clock.monotonic()
    spawned = [
        _spawn(worker_command(locust, locustfile, master_port), env, out_dir)
        for _ in range(workers)
    ]
    log_path = out_dir / "locust.log"
    try:
        with log_path.open("w", encoding="utf-8") as log:
            master = subprocess.Popen(
                command,
                env=env,
                cwd=out_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            returncode = wait_for_master(master, timeout_s, clock, duration_s, out, progress)
    finally:
        _stop(spawned)
    ended = clock.now()
    if returncode not in (0, 1) or not json_file.is_file():
        lines = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        tail = " | ".join(lines[-3:])
        raise BaselineError(f"locust exited with {returncode}: {tail or 'no output'}")
    endpoints = parse_locust_json(json.loads(json_file.read_text(encoding="utf-8")))
    worker_totals = _worker_totals(worker_dir, workers, endpoints)
    run = LocustRun(
        users=users,
        spawn_rate=spawn_rate,
        duration_s=duration_s,
        rate_per_user=rate_per_user,
        elapsed_s=round(clock.monotonic() - t0, 3),
        start=utc_iso(started),
        end=utc_iso(ended),
        locust_exit_code=returncode,
        command=(Path(command[0]).name, *command[1:]),
        stats_file=str(json_file),
        system_map=str(system_map_path),
        workers=worker_totals,
    )
    return endpoints, run


def wait_for_master(
    master: subprocess.Popen[bytes],
    timeout_s: float,
    clock: Clock,
    duration_s: float,
    out: Path,
    progress: ProgressThrottle | None,
) -> int:
    """Locust's exit code; a progress line at least every 10 s while it runs."""
    started = clock.monotonic()
    while True:
        left = timeout_s - (clock.monotonic() - started)
        if left <= 0:
            master.kill()
            master.wait()
            raise BaselineError(f"locust did not finish within {timeout_s:g} s")
        try:
            return master.wait(timeout=min(1.0, left))
        except subprocess.TimeoutExpired:
            if progress is not None and progress.due():
                elapsed = clock.monotonic() - started
                progress.emit(locust_progress(out, min(elapsed, duration_s), duration_s))


def locust_progress(out: Path, elapsed_s: float, duration_s: float) -> ProgressReport:
    """Locust's running totals from its CSV (rewritten every second while it runs)."""
    requests, estimates = 0, {}
    try:
        with out.with_name(out.name + "_stats.csv").open(encoding="utf-8") as stats:
            rows = [row for row in csv.DictReader(stats) if row.get("Name") == "Aggregated"]
    except (OSError, csv.Error):
        rows = []
    if rows:
        requests = int(rows[-1].get("Request Count") or 0)
        failures = rows[-1].get("Failure Count") or "0"
        estimates = {
            "all endpoints": f"failures {failures}/{requests}, p95 {rows[-1].get('95%')} ms"
        }
    return ProgressReport("load (locust)", elapsed_s, duration_s, requests, estimates)


def free_loopback_port() -> int:
    """A TCP port free on loopback now (the master binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def _spawn(command: list[str], env: Mapping[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command,
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    """Workers leave when their master quits; one that does not is terminated."""
    for worker in workers:
        try:
            worker.wait(timeout=WORKER_EXIT_S)
        except subprocess.TimeoutExpired:
            worker.terminate()
            worker.wait()


def _worker_totals(
    worker_dir: Path, workers: int, endpoints: Mapping[str, EndpointStats]
) -> tuple[Mapping[str, Any], ...]:
    """Each worker's own totals; :class:`BaselineError` when a worker wrote none or the
    master's totals are not their sum (a distributed run that does not add up)."""
    if not workers:
        return ()
    totals = []
    for path in sorted(worker_dir.glob("*.json")):
        try:
            totals.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as error:
            raise BaselineError(f"locust worker totals {path.name}: unreadable ({error})") from None
    if len(totals) != workers:
        raise BaselineError(f"locust: {workers} workers expected, {len(totals)} reported totals")
    master = sum(e.num_requests for e in endpoints.values())
    summed = sum(int(t["requests"]) for t in totals)
    if master != summed:
        raise BaselineError(
            f"locust: the master counted {master} requests, its workers {summed}: "
            "the distributed run does not add up"
        )
    return tuple(totals)


def parse_locust_json(entries: object) -> dict[str, EndpointStats]:
    """Locust's ``--json-file`` list of per-endpoint stats, keyed by endpoint name."""
    if not isinstance(entries, list):
        raise BaselineError("locust stats: expected a JSON list of endpoint entries")
    parsed: dict[str, EndpointStats] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not {"name", "method", "num_requests"} <= set(entry):
            raise BaselineError(f"locust stats: not an endpoint entry: {str(entry)[:80]}")
        histogram = {int(float(k)): int(v) for k, v in (entry.get("response_times") or {}).items()}
        stats_entry = EndpointStats(
            name=str(entry["name"]),
            method=str(entry["method"]),
            num_requests=int(entry["num_requests"]),
            num_failures=int(entry.get("num_failures", 0)),
            num_none_requests=int(entry.get("num_none_requests", 0)),
            response_times=histogram,
            max_response_time=entry.get("max_response_time"),
        )
        if stats_entry.timed + stats_entry.num_none_requests != stats_entry.num_requests:
            raise BaselineError(
                f"locust stats: {stats_entry.name}: histogram holds {stats_entry.timed} "
                f"timed + {stats_entry.num_none_requests} untimed of "
                f"{stats_entry.num_requests} requests"
            )
        if stats_entry.name in parsed:  # the same name under another method: keep apart
            stats_entry = replace(stats_entry, name=f"{stats_entry.name} [{stats_entry.method}]")
        parsed[stats_entry.name] = stats_entry
    return parsed


def locust_percentile(response_times: Mapping[int, int], num_requests: int, q: float) -> int:
    """``locust.stats.calculate_response_time_percentile``, restated (no locust import)."""
    wanted = int(num_requests * q)
    processed = 0
    for bucket in sorted(response_times, reverse=True):
        processed += response_times[bucket]
        if num_requests - processed <= wanted:
            return bucket
    return 0


def bucket_range(bucket: int) -> tuple[float, float]:
    """The response times (ms) locust may have rounded into ``bucket``."""
    if bucket < 100:
        half = 0.5
    elif bucket < 1000:
        half = 5.0
    elif bucket < 10000:
        half = 50.0
    else:
        half = 500.0
    return max(0.0, bucket - half), bucket + half


def slow_counts(response_times: Mapping[int, int], threshold_ms: float) -> tuple[int, int]:
    """``(surely_slow, possibly_slow)``: requests whose bucket lies wholly above the
    threshold, and those whose bucket reaches above it at all."""
    surely = sum(c for b, c in response_times.items() if bucket_range(b)[0] > threshold_ms)
    possibly = sum(c for b, c in response_times.items() if bucket_range(b)[1] > threshold_ms)
    return surely, possibly


def order_statistic_bound(
    response_times: Mapping[int, int], index: int | None, edge: int
) -> float | None:
    """An edge (0: lowest, 1: highest possible time) of the bucket holding ``x(index)``."""
    if index is None:
        return None
    seen = 0
    for bucket in sorted(response_times):
        seen += response_times[bucket]
        if seen >= index:
            return bucket_range(bucket)[edge]
    return None
