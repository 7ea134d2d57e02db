"""Phase 2: baseline load on every app's read paths, by locust in its own process.

locust is never imported here (it monkey-patches the standard library with gevent on
import, and installs a pytest plugin): it lives in its own virtualenv (``.venv-locust``,
made by ``scripts/setup.sh``) and runs as ``locust --headless`` in a subprocess with a
bounded timeout, its final stats written with ``--json-file`` (exact per-endpoint counts;
the ``--csv`` totals lag behind the real ones). Headless and local, locust opens no
listening socket; the web UI's bind address is still pinned to loopback.

Each endpoint is judged on its own: error rate < 1 % by the decision bounds, and p95 ≤
120 ms by order statistics on locust's response-time histogram. Locust rounds each time
into buckets (1 ms below 100 ms, 10 ms up to 1 s, 100 ms up to 10 s, 1 s beyond), so a
bucket is an interval: the p95 verdict is PASS only if it passes with every time in a
bucket that straddles the threshold counted as slow (the 120 bucket holds 115–125 ms),
FAIL only if it fails with those counted as fast, and INCONCLUSIVE in between.

More than :data:`MAX_USERS_WITHOUT_APPROVAL` virtual users needs a HITL approval for
``load_over_60_vus``: without one, :func:`run_baseline` refuses before any process starts.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from secondconf.contract.platform import SECRET_ENV_VARS
from secondconf.core.clock import utc_iso
from secondconf.engine import stats
from secondconf.engine.verdict import (
    DecisionMethod,
    Outcome,
    Reason,
    Verdict,
    Window,
    judge_quantile_counts,
    judge_rate,
)
from secondconf.target.map import SystemMap, load_system_map

REPO_ROOT: Final = Path(__file__).resolve().parents[4]
LOCUST_ENV: Final = "SECONDCONF_LOCUST"
DEFAULT_LOCUST: Final = REPO_ROOT / ".venv-locust" / "bin" / "locust"
LOCUSTFILE: Final = REPO_ROOT / "perf" / "locustfile_baseline.py"
LOOPBACK: Final = "127.0.0.1"
NOMINAL_HOST: Final = f"https://{LOOPBACK}"  # every request uses an absolute URL from the map

MAX_USERS_WITHOUT_APPROVAL: Final = 60
HITL_GATE: Final = "load_over_60_vus"
MAX_ERROR_RATE: Final = 0.01
MAX_P95_MS: Final = 120.0
LATENCY_QUANTILE: Final = 0.95
ERROR_CHECK: Final = "baseline_error_rate"
LATENCY_CHECK: Final = "baseline_p95_latency_ms"
SOURCE: Final = "locust"
IDENTITY_READ_ROUTES: Final = ("/.well-known/openid-configuration", "/jwks.json")
# Besides the run itself: locust's start (about 1 s) and its stop timeout.
TIMEOUT_GRACE_S: Final = 30.0
ROUNDING_NOTE: Final = (
    "locust rounds response times into buckets (1 ms below 100 ms, 10 ms to 1 s, "
    "100 ms to 10 s): p95_ms is locust's bucketed value; the verdict counts a bucket "
    "straddling the threshold as slow for PASS and as fast for FAIL"
)


class BaselineError(Exception):
    """The baseline run could not be made or read: one line says why."""


class LoadApprovalRequired(BaselineError):
    """More than 60 virtual users without a HITL approval for ``load_over_60_vus``."""


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
class BaselineResult:
    """Per-endpoint stats and verdicts of one baseline run, and how it was run."""

    endpoints: Mapping[str, EndpointStats]
    verdicts: Mapping[str, tuple[Verdict, ...]]  # endpoint name -> (error rate, p95)
    run: Mapping[str, Any] = field(default_factory=dict)

    def for_endpoint(self, name: str) -> tuple[Verdict, ...]:
        return self.verdicts[name]

    def for_app(self, app_id: str) -> list[Verdict]:
        return [v for name, vs in self.verdicts.items() if name.split()[0] == app_id for v in vs]


def locust_bin() -> Path:
    """``$SECONDCONF_LOCUST`` or ``<repo>/.venv-locust/bin/locust``."""
    return Path(os.environ.get(LOCUST_ENV) or DEFAULT_LOCUST)


def expected_endpoints(system_map: SystemMap) -> list[str]:
    """The endpoint names the locustfile uses: each app's health and ready, A1's OIDC reads."""
    names = [
        f"{a.app_id} {route}" for a in system_map.apps.values() for route in (a.health, a.ready)
    ]
    names += [f"{system_map.identity_app_id} {route}" for route in IDENTITY_READ_ROUTES]
    return names


def require_load_approval(users: int, hitl_approved: bool) -> None:
    if users < 1:
        raise BaselineError(f"users must be at least 1, got {users}")
    if users > MAX_USERS_WITHOUT_APPROVAL and not hitl_approved:
        raise LoadApprovalRequired(
            f"{users} virtual users is more than {MAX_USERS_WITHOUT_APPROVAL}: needs a HITL "
            f"approval for {HITL_GATE!r} (mark the check hitl(gate={HITL_GATE!r}))"
        )


def build_command(
    locust: Path, locustfile: Path, *, users: int, spawn_rate: float, duration_s: float, out: Path
) -> list[str]:
    """The locust command line: headless, local (no master/worker), loopback web bind."""
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
    ]


def run_baseline(
    system_map_path: Path,
    *,
    users: int,
    spawn_rate: float,
    duration_s: float,
    locust_bin: Path,
    out_dir: Path,
    rate_per_user: float = 10.0,
    hitl_approved: bool = False,
    method: DecisionMethod = "wilson",
    confidence: float = 0.95,
    locustfile: Path = LOCUSTFILE,
) -> BaselineResult:
    """Run locust against the map's read paths and judge every endpoint.

    Raises :class:`LoadApprovalRequired` (before anything starts) for more than 60 users
    without ``hitl_approved``, and :class:`BaselineError` when locust cannot run or its
    stats cannot be read. Locust's exit code 1 (some request failed) is a result, not an
    error: the verdicts say what failed.
    """
    require_load_approval(users, hitl_approved)
    system_map = load_system_map(system_map_path, environ={})
    if not Path(locust_bin).is_file():
        raise BaselineError(
            f"locust not found at {locust_bin}: run scripts/setup.sh (it makes .venv-locust) "
            f"or set {LOCUST_ENV}"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "baseline"
    json_file = out.with_name(out.name + ".json")
    json_file.unlink(missing_ok=True)
    command = build_command(
        locust_bin, locustfile, users=users, spawn_rate=spawn_rate, duration_s=duration_s, out=out
    )
    env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV_VARS}
    env.update(
        SECONDCONF_SYSTEM_MAP=str(system_map_path),
        SECONDCONF_CA_BUNDLE=str(system_map.ca_bundle or ""),
        SECONDCONF_BASELINE_RATE_PER_USER=f"{rate_per_user:g}",
    )
    env.pop("LOCUST_SKIP_MONKEY_PATCH", None)  # locust must patch, in its own process
    timeout_s = duration_s + TIMEOUT_GRACE_S
    started = datetime.now(UTC)
    t0 = time.monotonic()
    try:
        done = subprocess.run(
            command,
            env=env,
            cwd=out_dir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BaselineError(f"locust did not finish within {timeout_s:g} s") from None
    ended = datetime.now(UTC)
    (out_dir / "locust.log").write_text(done.stdout + done.stderr, encoding="utf-8")
    if done.returncode not in (0, 1) or not json_file.is_file():
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise BaselineError(f"locust exited with {done.returncode}: {tail or 'no output'}")
    endpoints = parse_locust_json(json.loads(json_file.read_text(encoding="utf-8")))
    window = Window.between(started, ended)
    run = {
        "users": users,
        "spawn_rate": spawn_rate,
        "duration_s": duration_s,
        "rate_per_user": rate_per_user,
        "elapsed_s": round(time.monotonic() - t0, 3),
        "start": utc_iso(started),
        "end": utc_iso(ended),
        "locust_exit_code": done.returncode,
        "command": [Path(command[0]).name, *command[1:]],
        "stats_file": str(json_file),
        "system_map": str(system_map_path),
    }
    verdicts = judge_endpoints(
        endpoints, expected_endpoints(system_map), window, method=method, confidence=confidence
    )
    return BaselineResult(endpoints=endpoints, verdicts=verdicts, run=run)


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


def _order_statistic_bound(
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


def judge_latency(
    endpoint: EndpointStats,
    window: Window | None = None,
    *,
    threshold_ms: float = MAX_P95_MS,
    q: float = LATENCY_QUANTILE,
    confidence: float = 0.95,
) -> Verdict:
    """p95 ≤ threshold by the slow-count form, safe against locust's rounding."""
    n = endpoint.timed
    surely, possibly = slow_counts(endpoint.response_times, threshold_ms)
    common: dict[str, Any] = {
        "check": LATENCY_CHECK,
        "source": SOURCE,
        "n": n,
        "threshold": threshold_ms,
        "q": q,
        "confidence": confidence,
        "window": window,
        "subject": endpoint.name,
    }
    pessimistic = judge_quantile_counts(slow=possibly, **common)
    optimistic = judge_quantile_counts(slow=surely, **common)
    if pessimistic.outcome is Outcome.PASS:
        verdict = pessimistic
    elif optimistic.outcome is Outcome.FAIL:
        verdict = optimistic
    elif pessimistic.outcome is Outcome.INCONCLUSIVE:
        verdict = pessimistic
    else:  # FAIL only when the straddling bucket counts as slow: rounding decides
        verdict = replace(pessimistic, outcome=Outcome.INCONCLUSIVE, reason=Reason.BOUND_STRADDLES)
    j, k = stats.quantile_bound_indices(n, q, confidence) if n else (None, None)
    return replace(
        verdict,
        estimate=endpoint.percentile(q),
        lower=_order_statistic_bound(endpoint.response_times, j, 0),
        upper=_order_statistic_bound(endpoint.response_times, k, 1),
        details={
            **verdict.details,
            **endpoint.figures(),
            "slow_surely": surely,
            "slow_possibly": possibly,
            "bounds": "edges of the locust buckets holding the order statistics x(j), x(k)",
            "note": ROUNDING_NOTE,
        },
    )


def judge_errors(
    endpoint: EndpointStats,
    window: Window | None = None,
    *,
    method: DecisionMethod = "wilson",
    confidence: float = 0.95,
) -> Verdict:
    verdict = judge_rate(
        check=ERROR_CHECK,
        source=SOURCE,
        failures=endpoint.num_failures,
        n=endpoint.num_requests,
        threshold=MAX_ERROR_RATE,
        method=method,
        confidence=confidence,
        window=window,
        subject=endpoint.name,
    )
    return replace(verdict, details={**verdict.details, **endpoint.figures()})


def judge_endpoints(
    endpoints: Mapping[str, EndpointStats],
    expected: Sequence[str],
    window: Window | None = None,
    *,
    method: DecisionMethod = "wilson",
    confidence: float = 0.95,
) -> dict[str, tuple[Verdict, ...]]:
    """Both verdicts per endpoint; an expected endpoint locust never hit is NO_DATA."""
    verdicts: dict[str, tuple[Verdict, ...]] = {}
    for name in dict.fromkeys([*expected, *endpoints]):
        endpoint = endpoints.get(name) or EndpointStats(name, "GET", 0, 0, 0, {}, None)
        verdicts[name] = (
            judge_errors(endpoint, window, method=method, confidence=confidence),
            judge_latency(endpoint, window, confidence=confidence),
        )
    return verdicts
