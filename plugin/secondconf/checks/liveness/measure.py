"""Phase 1: dual-source liveness of every app, measured once over one stable window.

Source A is the harness's own open-loop probes of ``/health`` and ``/ready``; source B is
what A8 stored for the same app, route and window. Every probe's trace id is one the
telemetry sampler keeps, so A8 must hold each of them: a probe missing from A8 (or
arriving later than the deadline) makes the telemetry source INCONCLUSIVE — if A8 cannot
see the harness's own traffic, its numbers are not evidence — and fails completeness.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import httpx

from secondconf.checks.liveness.prober import (
    ProbeKind,
    ProbeSample,
    ProbeTarget,
    probe_targets,
    run_probes,
    to_observation,
)
from secondconf.checks.liveness.saturation import (
    HarnessLoad,
    blame_harness,
    measure_load,
    refuse_above_capacity,
    sent_late,
)
from secondconf.contract.traceids import new_sampled_in_trace_id, new_trace_id, sample_rate_for
from secondconf.core.clock import Clock, utc_iso
from secondconf.engine.verdict import (
    DecisionMethod,
    Outcome,
    Reason,
    Verdict,
    Window,
    combine_sources,
    judge_quantile,
    judge_rate,
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


@dataclass(frozen=True)
class ProbeRun:
    """Source A of one run: every probe, each app's stable window, and the harness's load.

    Probes the harness sent late (:func:`~secondconf.checks.liveness.saturation.sent_late`)
    never reached the windows; when the harness was saturated, every app's probe verdicts
    are INCONCLUSIVE: the apps share one event loop, so its lag is in all their samples.
    """

    samples: Sequence[ProbeSample]
    evaluators: Mapping[str, StableWindowEvaluator]
    load: HarnessLoad

    def window_probes(self, app_id: str) -> list[ProbeSample]:
        return _in_window(self.samples, self.evaluators[app_id], app_id)

    def verdicts(self, app_id: str) -> tuple[Verdict, Verdict]:
        """The app's (error-rate, latency) probe verdicts, both routes together."""
        probes = self.window_probes(app_id)
        details = {
            "routes": list(ROUTES.values()),
            "probe_errors": dict(Counter(p.error for p in probes if p.error is not None)),
        }
        error, latency = (
            blame_harness(replace(v, check=check, details={**v.details, **details}), self.load)
            for v, check in zip(
                self.evaluators[app_id].verdicts(), (ERROR_CHECK, LATENCY_CHECK), strict=True
            )
        )
        return error, latency


async def probe_apps(
    client: httpx.AsyncClient,
    targets: Sequence[ProbeTarget],
    plan: LivenessPlan,
    clock: Clock,
    *,
    cpu_time: Callable[[], float] = time.process_time,
    trace_ids: Callable[[], str] = new_trace_id,
) -> ProbeRun:
    """Probe ``targets`` under ``plan`` into one stable window per app (source A).

    Refuses (:class:`~secondconf.checks.liveness.saturation.ProberCapacityError`) a plan
    whose total rate is above the prober's measured capacity, before sending anything.
    """
    refuse_above_capacity(plan.rate_per_target, len(targets))
    apps = list(dict.fromkeys(t.app_id for t in targets))
    evaluators = {
        app_id: StableWindowEvaluator(
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
        for app_id in apps
    }

    def observe(sample: ProbeSample) -> None:
        if not sent_late(sample, plan.probe_timeout_s):  # the harness's delay, not the app's
            evaluators[sample.app_id].observe(to_observation(sample))

    cpu_before = cpu_time()
    samples = await run_probes(
        client,
        targets,
        rate_per_target=plan.rate_per_target,
        duration_s=plan.burn_in_s + plan.window_s,
        clock=clock,
        on_sample=observe,
        timeout_s=plan.probe_timeout_s,
        stop=lambda: all(e.decided for e in evaluators.values()),
        trace_ids=trace_ids,
    )
    cpu_s = cpu_time() - cpu_before
    load = measure_load(
        [s for app_id in apps for s in _in_window(samples, evaluators[app_id], app_id)],
        offered_per_s=plan.rate_per_target * len(targets),
        timeout_s=plan.probe_timeout_s,
        cpu_s=cpu_s,
    )
    return ProbeRun(samples, evaluators, load)


def _in_window(
    samples: Sequence[ProbeSample], evaluator: StableWindowEvaluator, app_id: str
) -> list[ProbeSample]:
    return [
        s
        for s in samples
        if s.app_id == app_id and evaluator.window_start <= s.scheduled_at < evaluator.window_end
    ]


async def measure_liveness(
    client: httpx.AsyncClient,
    system_map: SystemMap,
    a8: A8Client,
    plan: LivenessPlan,
    clock: Clock,
    app_ids: Sequence[str] | None = None,
    cpu_time: Callable[[], float] = time.process_time,
) -> LivenessResult:
    """Probe every app's health and ready routes, then judge both sources per app."""
    apps = list(app_ids or system_map.apps)
    start_wall = clock.now()
    sampled_rate = sample_rate_for("http_request", 200)
    probed = await probe_apps(
        client,
        probe_targets(system_map, apps),
        plan,
        clock,
        cpu_time=cpu_time,
        trace_ids=lambda: new_sampled_in_trace_id(sampled_rate),
    )
    since = start_wall + timedelta(seconds=plan.burn_in_s)
    until = min(clock.now(), since + timedelta(seconds=plan.window_s))
    verdicts: dict[str, tuple[Verdict, ...]] = {}
    for app_id in apps:
        verdicts[app_id] = tuple(await _judge_app(a8, plan, clock, probed, app_id, since, until))
    return LivenessResult(
        verdicts=verdicts,
        window_start=utc_iso(since),
        window_end=utc_iso(until),
        probes_sent=len(probed.samples),
    )


async def _judge_app(
    a8: A8Client,
    plan: LivenessPlan,
    clock: Clock,
    probed: ProbeRun,
    app_id: str,
    since: datetime,
    until: datetime,
) -> list[Verdict]:
    """Both routes of one app judged together: liveness is the app's, and the n of the
    two routes together is what lets a clean app reach a PASS within a short window."""
    probes = probed.window_probes(app_id)
    probe_error, probe_latency = probed.verdicts(app_id)
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
        _combined(ERROR_CHECK, probe_error, tel_error, app_id),
        probe_latency,
        tel_latency,
        _combined(LATENCY_CHECK, probe_latency, tel_latency, app_id),
        completeness,
    ]


def _combined(check: str, probe: Verdict, telemetry: Verdict, app_id: str) -> Verdict:
    """Both sources ANDed; undecided because the harness was saturated says so."""
    combined = combine_sources(check, [probe, telemetry], app_id)
    if combined.outcome is Outcome.INCONCLUSIVE and probe.reason is Reason.HARNESS_SATURATED:
        return replace(combined, reason=Reason.HARNESS_SATURATED)
    return combined


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
    return Verdict(
        check="telemetry",
        source="telemetry",
        subject=app_id,
        outcome=Outcome.INCONCLUSIVE,
        reason=Reason.NO_DATA,
        threshold=0.0,
        estimate=None,
        lower=None,
        upper=None,
        method="a8",
        alpha=0.0,
        n=0,
        k=0,
        window=window,
        details={"error": reason},
    )


def _answered(probes: Sequence[ProbeSample]) -> list[ProbeSample]:
    return [p for p in probes if p.status is not None]


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
