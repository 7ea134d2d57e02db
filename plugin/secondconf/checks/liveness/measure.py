"""Phase 1: dual-source liveness of every app, measured once over one stable window.

Source A is the harness's own open-loop probes of ``/health`` and ``/ready``; source B is
what A8 stored for the same app, route and window. Every probe's trace id is one the
telemetry sampler keeps, so A8 must hold each of them: a probe missing from A8 (or
arriving later than the deadline) makes the telemetry source INCONCLUSIVE — if A8 cannot
see the harness's own traffic, its numbers are not evidence — and fails completeness.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import statistics
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import httpx

from secondconf.checks.liveness.loop_stalls import LoopStalls
from secondconf.checks.liveness.prober import (
    ProbeKind,
    ProbeSample,
    probe_targets,
    run_probes,
    to_observation,
)
from secondconf.checks.liveness.saturation import (
    forgive_harness,
    forgiving_observation,
    measure_load,
    refuse_above_capacity,
)
from secondconf.checks.liveness.transport import AiohttpProbeClient, ProbeClient
from secondconf.contract.traceids import new_sampled_in_trace_id, sample_rate_for
from secondconf.core.clock import Clock, utc_iso
from secondconf.core.progress import ProgressReport, ProgressThrottle
from secondconf.engine.verdict import (
    DecisionMethod,
    Outcome,
    Reason,
    Verdict,
    Window,
    combine_sources,
    judge_quantile,
    judge_rate,
    no_data_verdict,
)
from secondconf.engine.window import GatingMode, SloThresholds, StableWindowEvaluator
from secondconf.target.a8 import A8Client, StoredEvent, TelemetryError
from secondconf.target.map import SystemMap

ROUTES: Mapping[ProbeKind, str] = {"health": "/health", "ready": "/ready"}
ERROR_CHECK = "error_rate"
LATENCY_CHECK = "p95_latency_ms"
COMPLETENESS_CHECK = "telemetry_completeness"


@dataclass(frozen=True)
class LivenessPlan:
    """How one liveness run is measured and judged (stated in every report)."""

    burn_in_s: float
    window_s: float
    rate_per_target: float
    mode: GatingMode = GatingMode.FIXED
    method: DecisionMethod = "wilson"
    confidence: float = 0.95
    thresholds: SloThresholds = field(default_factory=SloThresholds)
    telemetry_deadline_s: float = 60.0
    probe_timeout_s: float = 2.0
    slice_s: float = 60.0


@dataclass(frozen=True)
class LivenessResult:
    """Every verdict of the run, per app, and the window the run judged."""

    verdicts: Mapping[str, tuple[Verdict, ...]]
    window_start: str
    window_end: str
    probes_sent: int

    def for_app(self, app_id: str) -> tuple[Verdict, ...]:
        return self.verdicts[app_id]

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdicts": {a: [v.to_dict() for v in vs] for a, vs in self.verdicts.items()},
            "window_start": self.window_start,
            "window_end": self.window_end,
            "probes_sent": self.probes_sent,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LivenessResult:
        return cls(
            verdicts={
                a: tuple(Verdict.from_dict(v) for v in vs) for a, vs in data["verdicts"].items()
            },
            window_start=data["window_start"],
            window_end=data["window_end"],
            probes_sent=data["probes_sent"],
        )


async def measure_liveness(
    client: httpx.AsyncClient,
    system_map: SystemMap,
    a8: A8Client,
    plan: LivenessPlan,
    clock: Clock,
    app_ids: Sequence[str] | None = None,
    progress: ProgressThrottle | None = None,
    probe_client: ProbeClient | None = None,
) -> LivenessResult:
    """Probe every app's health and ready routes, then judge both sources per app.

    ``client`` asks A8; the probes go out through ``probe_client`` (default: the fast
    :class:`AiohttpProbeClient` on the map's CA bundle). ``progress`` gets a line at least
    every 10 s while the probes run. Probe verdicts never blame a target for the
    harness's own delays (:mod:`.saturation`).
    """
    apps = list(app_ids or system_map.apps)
    targets = probe_targets(system_map, apps)
    refuse_above_capacity(plan.rate_per_target, len(targets))
    evaluators = {app_id: _evaluator(plan, clock, app_id) for app_id in apps}
    forgiving = {app_id: _evaluator(plan, clock, app_id) for app_id in apps}
    start_wall, start_mono = clock.now(), clock.monotonic()
    sampled_rate = sample_rate_for("http_request", 200)

    seen = 0

    def observe(sample: ProbeSample) -> None:
        nonlocal seen
        seen += 1
        evaluators[sample.app_id].observe(to_observation(sample))
        if progress is not None and progress.due():
            progress.emit(liveness_progress(plan, clock.monotonic() - start_mono, seen, evaluators))

    async with contextlib.AsyncExitStack() as stack:
        if probe_client is None:
            probe_client = await stack.enter_async_context(AiohttpProbeClient(system_map.ca_bundle))
        stalls = await stack.enter_async_context(LoopStalls(clock.monotonic))
        cpu_before = time.process_time()
        samples = await run_probes(
            probe_client,
            targets,
            rate_per_target=plan.rate_per_target,
            duration_s=plan.burn_in_s + plan.window_s,
            clock=clock,
            on_sample=observe,
            timeout_s=plan.probe_timeout_s,
            stop=lambda: all(e.decided for e in evaluators.values()),
            trace_ids=lambda: new_sampled_in_trace_id(sampled_rate),
        )
        cpu_s = time.process_time() - cpu_before
    for sample in samples:  # after the run: a stall is known once the loop wakes from it
        forgiving[sample.app_id].observe(
            forgiving_observation(sample, stalls, plan.probe_timeout_s)
        )
    since = start_wall + timedelta(seconds=plan.burn_in_s)
    until = min(clock.now(), since + timedelta(seconds=plan.window_s))
    in_window = {
        app_id: [
            s
            for s in samples
            if s.app_id == app_id
            and evaluators[app_id].window_start <= s.scheduled_at < evaluators[app_id].window_end
        ]
        for app_id in apps
    }
    load = measure_load(
        [s for probes in in_window.values() for s in probes],
        stalls,
        offered_per_s=plan.rate_per_target * len(targets),
        cpu_s=cpu_s,
    )
    verdicts: dict[str, tuple[Verdict, ...]] = {}
    for app_id in apps:
        probe_verdicts = tuple(
            forgive_harness(measured, lenient, load)
            for measured, lenient in zip(
                evaluators[app_id].verdicts(), forgiving[app_id].verdicts(), strict=True
            )
        )
        verdicts[app_id] = tuple(
            await _judge_app(
                a8, plan, clock, probe_verdicts, in_window[app_id], app_id, since, until
            )
        )
    return LivenessResult(
        verdicts=verdicts,
        window_start=utc_iso(since),
        window_end=utc_iso(until),
        probes_sent=len(samples),
    )


def _evaluator(plan: LivenessPlan, clock: Clock, app_id: str) -> StableWindowEvaluator:
    return StableWindowEvaluator(
        clock=clock,
        burn_in_s=plan.burn_in_s,
        window_s=plan.window_s,
        mode=plan.mode,
        thresholds=plan.thresholds,
        method=plan.method,
        confidence=plan.confidence,
        slice_s=plan.slice_s,
        subject=app_id,
        source="probe",
    )


def liveness_progress(
    plan: LivenessPlan,
    elapsed_s: float,
    samples: int,
    evaluators: Mapping[str, StableWindowEvaluator],
) -> ProgressReport:
    """Burn-in or window, and per app the window's errors and p95 so far."""
    in_window = elapsed_s >= plan.burn_in_s
    estimates: dict[str, str] = {}
    if in_window:
        for app_id, evaluator in evaluators.items():
            observed = evaluator.observed
            latencies = sorted(o.latency_ms for o in observed)
            p95 = latencies[max(0, math.ceil(0.95 * len(latencies)) - 1)] if latencies else None
            errors = sum(o.failed for o in observed)
            shown = "no samples yet" if p95 is None else f"p95 {p95:.0f} ms"
            estimates[app_id] = f"errors {errors}/{len(observed)}, {shown}"
    return ProgressReport(
        phase="liveness window" if in_window else "liveness burn-in",
        elapsed_s=elapsed_s,
        total_s=plan.burn_in_s + plan.window_s,
        samples=samples,
        estimates=estimates,
    )


async def _judge_app(
    a8: A8Client,
    plan: LivenessPlan,
    clock: Clock,
    probe_verdicts: tuple[Verdict, ...],
    probes: Sequence[ProbeSample],
    app_id: str,
    since: datetime,
    until: datetime,
) -> list[Verdict]:
    """Both routes of one app judged together: liveness is the app's, and the n of the
    two routes together is what lets a clean app reach a PASS within a short window."""
    probe_details = {
        "routes": list(ROUTES.values()),
        "probe_errors": dict(Counter(p.error for p in probes if p.error is not None)),
    }
    probe_error, probe_latency = (
        replace(v, check=check, details={**v.details, **probe_details})
        for v, check in zip(probe_verdicts, (ERROR_CHECK, LATENCY_CHECK), strict=True)
    )
    window = probe_error.window
    try:
        events, slo = await _telemetry(a8, plan, clock, probes, app_id, since, until)
    except TelemetryError as error:
        unavailable = _telemetry_unavailable(app_id, window, str(error))
        tel_error = replace(unavailable, check=ERROR_CHECK)
        tel_latency = replace(unavailable, check=LATENCY_CHECK)
        completeness = replace(unavailable, check=COMPLETENESS_CHECK)
    else:
        completeness = _completeness(app_id, probes, events, plan, window)
        in_window = [e for e in events if since <= e.timestamp <= until]
        tel_error, tel_latency = _telemetry_verdicts(app_id, in_window, plan, window, slo)
        if completeness.outcome is Outcome.FAIL:  # A8 misses probes: its figures prove nothing
            tel_error, tel_latency = (
                replace(v, outcome=Outcome.INCONCLUSIVE, reason=Reason.TELEMETRY_INCOMPLETE)
                for v in (tel_error, tel_latency)
            )
    return [
        probe_error,
        tel_error,
        combine_sources(ERROR_CHECK, [probe_error, tel_error], app_id),
        probe_latency,
        tel_latency,
        combine_sources(LATENCY_CHECK, [probe_latency, tel_latency], app_id),
        completeness,
    ]


async def _telemetry(
    a8: A8Client,
    plan: LivenessPlan,
    clock: Clock,
    probes: Sequence[ProbeSample],
    app_id: str,
    since: datetime,
    until: datetime,
) -> tuple[list[StoredEvent], dict[str, dict[str, float | None]]]:
    """A8's events for the app's liveness routes, re-asked until every probe is there or
    the deadline (measured from each probe's send) has passed for all that are missing."""
    wanted = {p.trace_id for p in _answered(probes)}
    last_send = max((_parse(p.wall_time) for p in probes), default=until)
    deadline = last_send + timedelta(seconds=plan.telemetry_deadline_s)
    # Events stamped just after the window still prove their probe arrived.
    slack_until = until + timedelta(seconds=plan.probe_timeout_s + 1)
    while True:
        events = [
            e
            for e in await a8.events(
                app_id=app_id, event="http_request", since=since, until=slack_until
            )
            if e.route in ROUTES.values()
        ]
        found = {e.trace_id for e in events}
        if wanted <= found or clock.now() >= deadline:
            break
        await asyncio.sleep(min(1.0, max(0.05, (deadline - clock.now()).total_seconds())))
    slo = {}
    for route in ROUTES.values():
        snapshot = await a8.slo(app_id, route, since, until)
        slo[route] = {
            "requests": snapshot.requests,
            "errors": snapshot.errors,
            "samples": snapshot.samples,
            "error_rate": snapshot.error_rate,
            "p95_ms": snapshot.p95_ms,
        }
    return events, slo


def _completeness(
    app_id: str,
    probes: Sequence[ProbeSample],
    events: Sequence[StoredEvent],
    plan: LivenessPlan,
    window: Window,
) -> Verdict:
    """Every answered probe of the window must be in A8, each within the deadline of its
    send. A probe that got no answer (refused, timed out) may never have reached the app,
    so A8 cannot be asked to hold it; the probe source counts it as an error instead."""
    received = {e.trace_id: e.received_at for e in events}
    arrivals: list[float] = []
    missing: list[str] = []
    late: list[str] = []
    probes = _answered(probes)
    for probe in probes:
        at = received.get(probe.trace_id)
        if at is None:
            missing.append(probe.trace_id)
            continue
        arrival = (at - _parse(probe.wall_time)).total_seconds()
        arrivals.append(arrival)
        if arrival > plan.telemetry_deadline_s:
            late.append(probe.trace_id)
    n, k = len(probes), len(missing) + len(late)
    if n == 0:
        outcome, reason = Outcome.INCONCLUSIVE, Reason.NO_DATA
    elif k:
        outcome, reason = Outcome.FAIL, Reason.TELEMETRY_INCOMPLETE
    else:
        outcome, reason = Outcome.PASS, Reason.CHECK_PASSED
    return Verdict(
        check=COMPLETENESS_CHECK,
        source="telemetry",
        subject=app_id,
        outcome=outcome,
        reason=reason,
        threshold=0.0,
        estimate=k / n if n else None,
        lower=None,
        upper=None,
        method="exhaustive",
        alpha=0.0,
        n=n,
        k=k,
        window=window,
        details={
            "missing": len(missing),
            "late": len(late),
            "deadline_s": plan.telemetry_deadline_s,
            "arrival_s_median": statistics.median(arrivals) if arrivals else None,
            "arrival_s_max": max(arrivals) if arrivals else None,
            "missing_trace_ids_sample": missing[:5],
        },
    )


def _telemetry_verdicts(
    app_id: str,
    events: Sequence[StoredEvent],
    plan: LivenessPlan,
    window: Window,
    slo: Mapping[str, Mapping[str, float | None]],
) -> tuple[Verdict, Verdict]:
    common = {"source": "telemetry", "window": window, "subject": app_id}
    error = judge_rate(
        check=ERROR_CHECK,
        failures=sum(1 for e in events if e.status is None or e.status >= 500),
        n=len(events),
        threshold=plan.thresholds.max_error_rate,
        method=plan.method,
        confidence=plan.confidence,
        **common,  # type: ignore[arg-type]
    )
    latency = judge_quantile(
        check=LATENCY_CHECK,
        samples=[e.latency_ms for e in events if e.latency_ms is not None],
        threshold=plan.thresholds.max_latency_ms,
        q=plan.thresholds.latency_quantile,
        confidence=plan.confidence,
        **common,  # type: ignore[arg-type]
    )
    with_slo = {"a8_slo": {route: dict(figures) for route, figures in slo.items()}}
    return (
        replace(error, details={**error.details, **with_slo}),
        replace(latency, details={**latency.details, **with_slo}),
    )


def _telemetry_unavailable(app_id: str, window: Window, reason: str) -> Verdict:
    return no_data_verdict(
        "telemetry", "telemetry", 0.0, 0.0, "a8", window, app_id, {"error": reason}
    )


def _answered(probes: Sequence[ProbeSample]) -> list[ProbeSample]:
    return [p for p in probes if p.status is not None]


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
