"""First-request latency after a cold start (contract §13: warmers keep it inside the SLO).

A cold start is a process action (contract §9), so it needs the target's processes (the
embedded default's) and is logged to the HITL log through the fault control's recorder
before it happens. For each app: cold-start it, poll ``/ready`` until 200 within the
recovery limit (what a load balancer waits for before it sends users), then time the first
user request on one of the app's B2B routes, and a few more for the warm figure.

Judged per app against the SLO's latency bound, P95 ≤ 120 ms: one first request per cold
start cannot estimate a quantile (no bound exists below n = 59), so the rule is stricter,
*every* first request within 120 ms; a first request above it is a user's request outside
the SLO, which the warmers exist to prevent. Not ready within the recovery limit FAILs
too. Without process control the check is INCONCLUSIVE (NO_DATA), naming why.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import httpx

from secondconf.contract.catalog import rule_by_id
from secondconf.contract.platform import SYNTHETIC_HEADERS
from secondconf.contract.traceids import new_trace_id
from secondconf.core.clock import Clock, utc_iso
from secondconf.engine.verdict import Outcome, Reason, Verdict, Window, no_data_verdict
from secondconf.target.control import ActionRecorder
from secondconf.target.map import SystemMap
from secondconf.target.processes import ProcessControl

RULE_ROW: Final = rule_by_id("B2B-04")
SOURCE: Final = "harness"
SLO_P95_MS: Final = 120.0
WARMUP_S: Final = 1.0  # the reference's simulated warm-up (the cold start's argument)
RECOVERY_LIMIT_S: Final = 30.0  # /ready must answer 200 within this after the cold start
READY_POLL_S: Final = 0.05
WARM_REQUESTS: Final = 5
RULE: Final = (
    "every first request after a cold start within the SLO's latency bound (P95 <= 120 ms): "
    "one request per cold start cannot bound a quantile, so each one must meet it"
)


@dataclass(frozen=True)
class ColdStartProbe:
    """Which request plays the first user after a cold start of ``app_id``."""

    app_id: str
    path: str
    authorized: bool  # sends the synthetic provider's bearer token


@dataclass(frozen=True)
class ColdStartSample:
    """One cold start and what the first request after it met."""

    app_id: str
    route: str
    ready_after_s: float | None  # None: not ready within the recovery limit
    first_request_ms: float | None
    first_status: int | None
    warm_median_ms: float | None
    started_at: str
    ended_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "app_id": self.app_id,
            "route": self.route,
            "ready_after_s": self.ready_after_s,
            "first_request_ms": self.first_request_ms,
            "first_status": self.first_status,
            "warm_median_ms": self.warm_median_ms,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
        }


B2B_PROBES: Final = (
    ColdStartProbe("A6", "/v1/listings", authorized=True),
    ColdStartProbe("A7", "/providers", authorized=False),
)


def _timed_get(client: httpx.Client, url: str, headers: Mapping[str, str]) -> tuple[float, int]:
    started = time.perf_counter()
    answer = client.get(url, headers={**headers, "X-Trace-Id": new_trace_id()})
    return (time.perf_counter() - started) * 1000, answer.status_code


def _wait_ready(
    client: httpx.Client,
    url: str,
    clock: Clock,
    limit_s: float,
    sleep: Callable[[float], None],
) -> float | None:
    started = clock.monotonic()
    while (elapsed := clock.monotonic() - started) <= limit_s:
        try:
            if client.get(url).status_code == 200:
                return round(elapsed, 3)
        except httpx.HTTPError:
            pass
        sleep(READY_POLL_S)
    return None


def measure_cold_start(
    probe: ColdStartProbe,
    processes: ProcessControl,
    record: ActionRecorder,
    client: httpx.Client,
    system_map: SystemMap,
    authorization: Mapping[str, str],
    clock: Clock,
    *,
    warmup_s: float = WARMUP_S,
    recovery_limit_s: float = RECOVERY_LIMIT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> ColdStartSample:
    """Cold-start ``probe.app_id`` and time its first request once it says it is ready."""
    app = system_map.apps[probe.app_id]
    headers = {**SYNTHETIC_HEADERS, **(authorization if probe.authorized else {})}
    started = clock.now()
    record(probe.app_id, f"cold start ({warmup_s:g} s warm-up)", rollback=False)
    processes.cold_start(probe.app_id, warmup_s)
    ready_after = _wait_ready(client, app.base_url + app.ready, clock, recovery_limit_s, sleep)
    first_ms: float | None = None
    status: int | None = None
    warm: list[float] = []
    if ready_after is not None:
        first_ms, status = _timed_get(client, app.base_url + probe.path, headers)
        url = app.base_url + probe.path
        warm = [_timed_get(client, url, headers)[0] for _ in range(WARM_REQUESTS)]
    return ColdStartSample(
        app_id=probe.app_id,
        route=f"GET {probe.path}",
        ready_after_s=ready_after,
        first_request_ms=None if first_ms is None else round(first_ms, 1),
        first_status=status,
        warm_median_ms=round(statistics.median(warm), 1) if warm else None,
        started_at=utc_iso(started),
        ended_at=utc_iso(clock.now()),
    )


def judge_cold_start(sample: ColdStartSample, threshold_ms: float = SLO_P95_MS) -> Verdict:
    """PASS when ready in time and the first request answered < 400 within ``threshold_ms``."""
    first = sample.first_request_ms
    failed = (
        sample.ready_after_s is None
        or first is None
        or first > threshold_ms
        or sample.first_status is None
        or sample.first_status >= 400
    )
    return Verdict(
        check=RULE_ROW.check,
        source=SOURCE,
        subject=sample.app_id,
        outcome=Outcome.FAIL if failed else Outcome.PASS,
        reason=Reason.CHECK_FAILED if failed else Reason.CHECK_PASSED,
        threshold=threshold_ms,
        estimate=first,
        lower=None,
        upper=first,
        method="every_observation",
        alpha=0.0,
        n=0 if first is None else 1,
        k=1 if failed else 0,
        window=Window(start=sample.started_at, end=sample.ended_at),
        details={"rule": RULE_ROW.rule_id, **sample.to_dict(), "judged": RULE},
    )


def no_process_control(app_ids: Sequence[str], why: str) -> list[Verdict]:
    """INCONCLUSIVE verdicts for a target whose processes the harness does not run."""
    return [
        no_data_verdict(
            RULE_ROW.check,
            SOURCE,
            SLO_P95_MS,
            0.0,
            "every_observation",
            subject=app_id,
            details={"rule": RULE_ROW.rule_id, "untested": why, "judged": RULE},
        )
        for app_id in app_ids
    ]
