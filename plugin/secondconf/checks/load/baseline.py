"""Phase 2: baseline load on every app's read paths, judged endpoint by endpoint.

locust runs in its own process (:mod:`.locust`: the command, the process, its JSON stats
and the histogram maths); here each endpoint is judged on its own: error rate < 1 % by
the decision bounds, and p95 ≤ 120 ms by order statistics on locust's response-time
histogram. Locust rounds each time into buckets (1 ms below 100 ms, 10 ms up to 1 s,
100 ms up to 10 s, 1 s beyond), so a bucket is an interval: the p95 verdict is PASS only
if it passes with every time in a bucket that straddles the threshold counted as slow
(the 120 bucket holds 115–125 ms), FAIL only if it fails with those counted as fast, and
INCONCLUSIVE in between.

More than :data:`MAX_USERS_WITHOUT_APPROVAL` virtual users needs a HITL approval for
``load_over_60_vus``: without one, :func:`run_baseline` refuses before any process starts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final, NotRequired, TypedDict, Unpack

from secondconf.checks.load.locust import (
    BaselineError,
    EndpointStats,
    LocustRun,
    order_statistic_bound,
    run_locust,
    slow_counts,
)
from secondconf.core.clock import Clock, SystemClock
from secondconf.core.files import write_atomic
from secondconf.core.progress import ProgressThrottle
from secondconf.core.secret import Secret
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

MAX_USERS_WITHOUT_APPROVAL: Final = 60
HITL_GATE: Final = "load_over_60_vus"
MAX_ERROR_RATE: Final = 0.01
MAX_P95_MS: Final = 120.0
LATENCY_QUANTILE: Final = 0.95
ERROR_CHECK: Final = "baseline_error_rate"
LATENCY_CHECK: Final = "baseline_p95_latency_ms"
SOURCE: Final = "locust"
IDENTITY_READ_ROUTES: Final = ("/.well-known/openid-configuration", "/jwks.json")
ROUNDING_NOTE: Final = (
    "locust rounds response times into buckets (1 ms below 100 ms, 10 ms to 1 s, "
    "100 ms to 10 s): p95_ms is locust's bucketed value; the verdict counts a bucket "
    "straddling the threshold as slow for PASS and as fast for FAIL"
)


class LoadApprovalRequired(BaselineError):
    """More than 60 virtual users without a HITL approval for ``load_over_60_vus``."""


@dataclass(frozen=True)
class BaselineResult:
    """Per-endpoint stats and verdicts of one baseline run, and how it was run."""

    endpoints: Mapping[str, EndpointStats]
    verdicts: Mapping[str, tuple[Verdict, ...]]  # endpoint name -> (error rate, p95)
    run: LocustRun

    def for_endpoint(self, name: str) -> tuple[Verdict, ...]:
        return self.verdicts[name]

    def for_app(self, app_id: str) -> list[Verdict]:
        return [v for name, vs in self.verdicts.items() if name.split()[0] == app_id for v in vs]


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


class LocustRunOptions(TypedDict):
    """How a profile's locust run is made: :func:`run_profile`'s keywords, as
    :func:`run_baseline` and the other profiles' runners pass them on."""

    users: int
    spawn_rate: float
    duration_s: float
    locust_bin: Path
    locustfile: Path
    out_dir: Path
    rate_per_user: NotRequired[float]
    hitl_approved: NotRequired[bool]
    method: NotRequired[DecisionMethod]
    confidence: NotRequired[float]
    clock: NotRequired[Clock | None]
    workers: NotRequired[int]
    progress: NotRequired[ProgressThrottle | None]


def run_baseline(system_map_path: Path, **options: Unpack[LocustRunOptions]) -> BaselineResult:
    """Run locust (``locustfile``) against the map's read paths and judge every endpoint
    (:func:`run_profile`, with the read paths' :func:`expected_endpoints`)."""
    return run_profile(system_map_path, expected_endpoints, **options)


def run_profile(
    system_map_path: Path,
    expected: Callable[[SystemMap], Sequence[str]],
    *,
    users: int,
    spawn_rate: float,
    duration_s: float,
    locust_bin: Path,
    locustfile: Path,
    out_dir: Path,
    private_files: Mapping[str, Secret] | None = None,
    rate_per_user: float = 10.0,
    hitl_approved: bool = False,
    method: DecisionMethod = "wilson",
    confidence: float = 0.95,
    clock: Clock | None = None,
    workers: int = 0,
    progress: ProgressThrottle | None = None,
) -> BaselineResult:
    """Run the locust profile ``locustfile`` against the map and judge every endpoint it
    hit and every one ``expected`` names for the map (one it never hit is NO_DATA).

    ``private_files`` (name -> secret) are written 0600 into locust's working directory
    ``out_dir`` for the run and deleted after it: the runner passes no secret in
    locust's environment. Raises :class:`LoadApprovalRequired` (before anything starts)
    for more than 60 users without ``hitl_approved``, and :class:`BaselineError` when
    locust cannot run or its stats cannot be read. Locust's exit code 1 (some request
    failed) is a result, not an error: the verdicts say what failed.
    """
    require_load_approval(users, hitl_approved)
    system_map = load_system_map(system_map_path, environ={})
    written = [
        _write_private(out_dir / name, value) for name, value in (private_files or {}).items()
    ]
    try:
        endpoints, run = run_locust(
            locust_bin,
            locustfile,
            system_map_path,
            system_map.ca_bundle,
            users=users,
            spawn_rate=spawn_rate,
            duration_s=duration_s,
            rate_per_user=rate_per_user,
            out_dir=out_dir,
            clock=clock or SystemClock(),
            workers=workers,
            progress=progress,
        )
    finally:
        for path in written:
            path.unlink(missing_ok=True)
    verdicts = judge_endpoints(
        endpoints,
        expected(system_map),
        Window(start=run.start, end=run.end),
        method=method,
        confidence=confidence,
    )
    return BaselineResult(endpoints=endpoints, verdicts=verdicts, run=run)


def _write_private(path: Path, secret: Secret) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)  # write_atomic keeps an existing file's permission bits
    path.chmod(0o600)
    write_atomic(path, secret.reveal())
    return path


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
        lower=order_statistic_bound(endpoint.response_times, j, 0),
        upper=order_statistic_bound(endpoint.response_times, k, 1),
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
