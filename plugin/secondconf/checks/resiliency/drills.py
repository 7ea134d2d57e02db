"""Phase 7: resiliency drills, one app and one fault at a time (contract §9, §13).

Each drill injects one fault into one app, then judges three claims from the harness's
liveness probes (the phase-1 measurement, handed in as ``measure`` because no
capability imports another):

- **detection**: the faulted app's liveness FAILs in a short window after the fault
  (its detection time is the end of the first 0.5 s slice with a failed or slow probe);
- **containment**: the other apps together keep the SLO over that same window, judged
  with bounds (pooled, so a short window reaches the n a PASS needs: 7 apps × 2 routes ×
  8/s × 4 s = 448 probes against the 381 a PASS at 1 % needs; a degradation confined to
  part of one other app can hide in the pool, which the per-app figures beside it show);
- **recovery**: after the fault is removed the app answers ``/health`` and ``/ready``
  healthy (``/health`` and ``/ready`` 200, ten polls in a row: an app still failing half
  its requests passes that by chance once in a million) within the drill's stated
  limit, measured from the rollback (or, for a restart and a cold start, from the
  start of the process, contract §13), and a confirmation window of its own probes PASSes.

Every fault is written to the :class:`~secondconf.checks.resiliency.ledger.FaultLedger`
before it is injected and rolled back in a ``finally`` (also when the check fails or
the run is interrupted); the ledger entry goes only once the app is healthy again, so a
fault whose rollback did not take is cleared by the next run (:func:`clear_leftovers`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final, Literal

import httpx

from secondconf.checks.resiliency.ledger import FaultLedger, PendingFault
from secondconf.contract.catalog import rule_by_id
from secondconf.core.clock import Clock, utc_iso
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Outcome, Reason, Verdict, judge_rate
from secondconf.engine.window import SloThresholds
from secondconf.target.control import ControlError, TargetControl
from secondconf.target.map import SystemMap
from secondconf.target.processes import ProcessControl

DrillKind = Literal["error_503", "latency", "kill", "restart", "cold_start"]
DrillPhase = Literal["inject", "detect/contain", "recover", "confirm"]
PROCESS_KINDS: Final = frozenset({"kill", "restart", "cold_start"})
SLO: Final = SloThresholds()
HEALTHY_IN_A_ROW: Final = 10
POLL_S: Final = 0.05
GIVE_UP_AFTER_S: Final = 30.0


@dataclass(frozen=True)
class ProbePlan:
    """One short liveness window of the drills (the fixture turns it into a LivenessPlan)."""

    burn_in_s: float
    window_s: float
    rate_per_target: float
    slice_s: float = 0.5


DETECTION: Final = ProbePlan(burn_in_s=2.0, window_s=10.0, rate_per_target=8.0)
"""8/s to each route of every app for 10 s: 160 probes of the faulted app, 1,120 pooled of
the other seven (a PASS at 1 % with 95 % Wilson bounds needs 381). Not shorter: a process
drill's start-up takes a second or two of CPU from the apps it shares two cores with, and
in a 4 s window that host-level burst alone was 5-8 % of the others' probes (DRL-05 FAILed
containment at 34 slow of 448 on a quiet machine); over 10 s it is judged in proportion.
The fault goes in as the 2 s burn-in ends: each window's prober opens its connections
afresh (the apps close idle ones after 5 s), and those TLS handshakes made the first second
of every window slow for every app (6-8 slow probes each, 90 of 1,119 pooled under load)."""
STEADY_STATE: Final = ProbePlan(burn_in_s=3.0, window_s=4.0, rate_per_target=8.0)
"""Before any fault, every app pooled (512 probes), after the same 3 s burn-in as phase 1:
a freshly started target answers its first requests slowly."""
CONFIRMATION: Final = ProbePlan(burn_in_s=3.0, window_s=6.5, rate_per_target=32.0)
"""The recovered app alone at 32/s to each route for 6.5 s after phase 1's 3 s burn-in (a
process just started answers its first requests slowly): n = 416, enough for a PASS
(381), at a rate one app on a busy 2-core machine still answers within its SLO."""

Measure = Callable[[Sequence[str], ProbePlan], Awaitable[Mapping[str, Sequence[Verdict]]]]
"""Liveness of ``app_ids`` over one window: each app's verdicts (probe and telemetry)."""


@dataclass(frozen=True)
class DrillSpec:
    """One drill: which rule it judges, which fault on which app, and its recovery limit."""

    rule_id: str
    kind: DrillKind
    app_id: str
    recovery_limit_s: float
    error_503_fraction: float = 0.5
    added_latency_ms: float = 400.0
    warmup_s: float = 5.0

    @property
    def fault(self) -> str:
        """The fault in words, as the report and the HITL log's actions name it."""
        return {
            "error_503": f"503 on {self.error_503_fraction:.0%} of requests",
            "latency": f"{self.added_latency_ms:g} ms added latency",
            "kill": "process killed (SIGKILL), then started",
            "restart": "process restarted",
            "cold_start": f"cold start ({self.warmup_s:g} s warm-up)",
        }[self.kind]

    @property
    def recovery_from(self) -> str:
        """What the recovery time is measured from."""
        return "the restart" if self.kind in ("restart", "cold_start") else "the rollback"


DRILLS: Final = (
    DrillSpec("DRL-01", "error_503", "A2", recovery_limit_s=5.0),
    DrillSpec("DRL-02", "latency", "A3", recovery_limit_s=5.0),
    DrillSpec("DRL-03", "kill", "A4", recovery_limit_s=15.0),
    DrillSpec("DRL-04", "restart", "A5", recovery_limit_s=15.0),
    DrillSpec("DRL-05", "cold_start", "A6", recovery_limit_s=20.0),
)
"""One app per drill, never A1 or A8: every app's ``/ready`` depends on A1's JWKS and A8's
health, so a fault there is not containable by design."""


@dataclass(frozen=True)
class DrillResult:
    """A drill's verdicts and the figures its report states."""

    rule_id: str
    app_id: str
    fault: str
    verdicts: tuple[Verdict, ...]
    figures: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "app_id": self.app_id,
            "fault": self.fault,
            "verdicts": [v.to_dict() for v in self.verdicts],
            "figures": dict(self.figures),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DrillResult:
        return cls(
            rule_id=data["rule_id"],
            app_id=data["app_id"],
            fault=data["fault"],
            verdicts=tuple(Verdict.from_dict(v) for v in data["verdicts"]),
            figures=data["figures"],
        )


@dataclass
class DrillTarget:
    """What a drill acts on: the fault switches (each change logged by their recorder),
    the processes (embedded only), the ledger, and a client for the recovery polls."""

    system_map: SystemMap
    faults: TargetControl
    processes: ProcessControl | None
    ledger: FaultLedger
    client: httpx.AsyncClient
    clock: Clock
    test_id: str
    rollback_enabled: bool = True  # False only in the harness's own fault tests

    def inject(self, spec: DrillSpec) -> None:
        app = spec.app_id
        if spec.kind == "error_503":
            self.faults.set_faults(app, {"error_503_fraction": spec.error_503_fraction})
        elif spec.kind == "latency":
            self.faults.set_faults(app, {"added_latency_ms": spec.added_latency_ms})
        else:
            processes = self._processes()
            self.faults.recorder(app, f"drill: {spec.fault}", rollback=False)
            if spec.kind == "kill":
                processes.kill(app)
            elif spec.kind == "restart":
                processes.restart(app)
            else:
                processes.cold_start(app, spec.warmup_s)

    def rollback(self, kind: str, app: str) -> None:
        """Undo ``kind`` on ``app``; the undo is logged first (and made even if that fails)."""
        if not self.rollback_enabled:
            return
        if kind in PROCESS_KINDS:
            processes = self._processes()
            try:
                self.faults.recorder(app, "start process if stopped", rollback=True)
            finally:
                processes.start(app)  # a no-op when it runs (a restart or cold start did)
        else:
            self.faults.clear_faults(app)

    def _processes(self) -> ProcessControl:
        if self.processes is None:
            raise ControlError("the target's processes are not the harness's (contract §9)")
        return self.processes


async def run_drill(
    spec: DrillSpec,
    target: DrillTarget,
    measure: Measure,
    on_phase: Callable[[DrillPhase], None] = lambda phase: None,
) -> DrillResult:
    """Inject, detect, roll back (always), recover, confirm: the drill's verdicts.
    ``on_phase`` hears each step as it starts (the progress lines name it)."""
    rule = rule_by_id(spec.rule_id)
    if spec.kind in PROCESS_KINDS and target.processes is None:
        untested = rule_verdict(
            rule,
            spec.app_id,
            cases=0,
            violations=[],
            untested=[f"{spec.fault}: no process control for this target (contract §9)"],
        )
        return DrillResult(spec.rule_id, spec.app_id, spec.fault, (untested,))
    clock = target.clock
    base_url = target.system_map.apps[spec.app_id].base_url
    await open_connections(target)  # fresh ones: the last drill may have left some stale
    pending = PendingFault(
        spec.app_id, spec.kind, base_url, target.test_id, os.getpid(), utc_iso(clock.now())
    )
    target.ledger.add(pending)  # before the fault: an interrupted run leaves it behind
    problems: list[str] = []
    detection: Mapping[str, Sequence[Verdict]] = {}
    on_phase("inject")
    window = asyncio.ensure_future(measure(list(target.system_map.apps), DETECTION))
    healthy: asyncio.Future[float | None] | None = None
    try:
        await asyncio.sleep(DETECTION.burn_in_s)  # the fault goes in as the window opens
        injected_wall, injected_at = clock.now(), clock.monotonic()
        try:
            await asyncio.to_thread(target.inject, spec)  # a restart: until the process is up
            if spec.recovery_from == "the restart":  # timed from the restart: poll right away
                healthy = asyncio.ensure_future(
                    _time_to_healthy(target, base_url, injected_at, spec.recovery_limit_s)
                )
            on_phase("detect/contain")
            detection = await window
        except (ControlError, RuntimeError, OSError) as error:
            problems.append(f"fault not injected: {error}")
            window.cancel()  # a window without its fault judges nothing
        finally:
            on_phase("recover")
            rollback_at = clock.monotonic()
            try:  # in a thread: starting a killed process waits for its /ready
                await asyncio.to_thread(target.rollback, spec.kind, spec.app_id)
            except (ControlError, RuntimeError, OSError) as error:
                problems.append(f"rollback failed: {error}")
        if healthy is None:
            since = injected_at if spec.recovery_from == "the restart" else rollback_at
            healthy = asyncio.ensure_future(
                _time_to_healthy(target, base_url, since, spec.recovery_limit_s)
            )
        recovery_s = await healthy
    finally:  # an interrupted drill leaves no window or poll running
        for task in (window, healthy):
            if task is not None and not task.done():
                task.cancel()
    confirmation: Sequence[Verdict] = ()
    if recovery_s is not None:
        on_phase("confirm")
        confirmation = (await measure([spec.app_id], CONFIRMATION))[spec.app_id]
        if not problems:
            target.ledger.remove(pending)
    return _judge(spec, detection, injected_wall, recovery_s, confirmation, problems)


async def _time_to_healthy(
    target: DrillTarget, base_url: str, since: float, limit_s: float
) -> float | None:
    """Seconds from ``since`` to the first of ten healthy polls in a row (``/health`` and
    ``/ready`` 200; their latency is the confirmation window's to judge), or ``None`` when
    none came within the limit plus :data:`GIVE_UP_AFTER_S` (so a slow recovery still gets
    its figure)."""
    clock = target.clock
    give_up = since + limit_s + GIVE_UP_AFTER_S
    first_healthy: float | None = None
    in_a_row = 0
    while clock.monotonic() < give_up:
        at = clock.monotonic()
        if await _healthy(target.client, base_url):
            first_healthy = at if in_a_row == 0 else first_healthy
            in_a_row += 1
            if in_a_row >= HEALTHY_IN_A_ROW and first_healthy is not None:
                return max(0.0, first_healthy - since)
        else:
            in_a_row = 0
        await asyncio.sleep(POLL_S)
    return None


async def _healthy(client: httpx.AsyncClient, base_url: str) -> bool:
    for route in ("/health", "/ready"):
        try:
            answer = await client.get(base_url + route, timeout=5.0)
        except httpx.HTTPError:
            return False
        if answer.status_code != 200:
            return False
    return True


def _probe(verdicts: Sequence[Verdict], check: str) -> Verdict | None:
    return next((v for v in verdicts if v.source == "probe" and v.check == check), None)


def probes_judged(window: Mapping[str, Sequence[Verdict]]) -> int:
    """How many probes one window judged (every app's error-rate n)."""
    return sum(p.n for verdicts in window.values() if (p := _probe(verdicts, "error_rate")))


_NO: Final = Verdict(
    "none", "probe", Outcome.INCONCLUSIVE, Reason.NO_DATA, 0, None, None, None, "-", 0, 0, 0
)


def _detection_s(verdicts: Sequence[Verdict], injected: datetime) -> float | None:
    """Seconds from the injection to the end of the first slice with a failed or slow probe
    that ends after it (a slow probe before the fault is the machine's, not a detection)."""
    ends = [
        end
        for v in verdicts
        if v.source == "probe"
        for s in v.window.timeslices
        if (s.errors or s.slow)
        and (end := datetime.fromisoformat(s.end.replace("Z", "+00:00"))) > injected
    ]
    return (min(ends) - injected).total_seconds() if ends else None


def _judge(
    spec: DrillSpec,
    detection: Mapping[str, Sequence[Verdict]],
    injected: datetime,
    recovery_s: float | None,
    confirmation: Sequence[Verdict],
    problems: Sequence[str],
) -> DrillResult:
    rule = rule_by_id(spec.rule_id)
    tag = {"rule": spec.rule_id, "contract": rule.contract, "fault": spec.fault}
    faulted = list(detection.get(spec.app_id, ()))
    probe_fails = [v for v in faulted if v.source == "probe" and v.outcome is Outcome.FAIL]
    detection_s = _detection_s(faulted, injected)
    detected = rule_verdict(
        rule,
        spec.app_id,
        cases=1 if faulted else 0,
        violations=[]
        if probe_fails or not faulted
        else [f"{spec.fault} on {spec.app_id}: its liveness did not FAIL"],
        untested=[] if faulted else ["no detection window (fault not injected)"],
        details={
            "claim": "detection",
            "detection_s": detection_s,
            "failed": [v.summary() for v in probe_fails],
        },
    )
    saturated = [v for v in faulted if v.reason is Reason.HARNESS_SATURATED]
    if detected.outcome is Outcome.FAIL and saturated:  # the prober could not tell
        detected = replace(
            detected,
            outcome=Outcome.INCONCLUSIVE,
            reason=Reason.HARNESS_SATURATED,
            details={**detected.details, "saturated": [v.summary() for v in saturated]},
        )
    others = {a: vs for a, vs in detection.items() if a != spec.app_id}
    contained = _containment(spec, others, tag)
    recovery = _recovery(spec, recovery_s, tag)
    confirmed = [
        replace(v, check=f"{spec.rule_id} healthy again: {v.check}", details={**v.details, **tag})
        for v in confirmation
        if v.source == "probe"
    ]
    broken = (
        [rule_verdict(rule, spec.app_id, cases=1, violations=list(problems), details=tag)]
        if problems
        else []
    )
    verdicts = (
        replace(detected, check=f"{spec.rule_id} detection"),
        *contained,
        recovery,
        *confirmed,
        *broken,
    )
    figures = {
        "app": spec.app_id,
        "fault": spec.fault,
        "detection_s": detection_s,
        "detected": bool(probe_fails),
        "containment": [
            {
                "check": v.check,
                "n": v.n,
                "k": v.k,
                "upper": v.upper,
                "threshold": v.threshold,
                "outcome": v.outcome.value,
            }
            for v in contained
        ],
        "containment_per_app": {
            a: {
                **{c: (p.k, p.n) for c in ("error_rate", "p95_latency_ms") if (p := _probe(vs, c))},
                "probe_errors": dict(
                    (_probe(vs, "error_rate") or _NO).details.get("probe_errors") or {}
                ),
            }
            for a, vs in sorted(others.items())
        },
        "recovery_s": recovery_s,
        "recovery_limit_s": spec.recovery_limit_s,
        "recovery_from": spec.recovery_from,
        "confirmed": bool(confirmed) and all(v.passed for v in confirmed),
        "problems": list(problems),
    }
    return DrillResult(spec.rule_id, spec.app_id, spec.fault, verdicts, figures)


def _containment(
    spec: DrillSpec, others: Mapping[str, Sequence[Verdict]], tag: Mapping[str, Any]
) -> list[Verdict]:
    return pooled_slo(
        others, f"{spec.rule_id} containment", f"all but {spec.app_id}", tag, "other apps"
    )


def pooled_slo(
    apps: Mapping[str, Sequence[Verdict]],
    check: str,
    subject: str,
    tag: Mapping[str, Any],
    pool: str,
) -> list[Verdict]:
    """The apps' probes pooled: errors against the 1 % SLO, slow probes (over the latency
    SLO) against the 5 % a p95 allows. A pooled FAIL is the harness's own
    (:func:`_harness_saturated`) when its prober was behind schedule and no app's probes
    FAIL with the harness's delays taken out."""
    errors = [p for vs in apps.values() if (p := _probe(vs, "error_rate"))]
    latency = [p for vs in apps.values() if (p := _probe(vs, "p95_latency_ms"))]
    pooled = (
        ("error_rate", errors, SLO.max_error_rate),
        ("slow_fraction", latency, 1 - SLO.latency_quantile),
    )
    verdicts = []
    for name, parts, threshold in pooled:
        verdict = judge_rate(
            check=f"{check} {name} ({pool} pooled)",
            source="probe",
            failures=sum(p.k for p in parts),
            n=sum(p.n for p in parts),
            threshold=threshold,
            subject=subject,
        )
        pooled_verdict = replace(verdict, details={**verdict.details, **tag, "apps": sorted(apps)})
        verdicts.append(_harness_saturated(pooled_verdict, parts))
    return verdicts


def _harness_saturated(pooled: Verdict, parts: Sequence[Verdict]) -> Verdict:
    """``pooled``, or INCONCLUSIVE ``HARNESS_SATURATED`` when it FAILs only because of the
    harness (the liveness prober's rule, ``checks/liveness/saturation.py``, on the pool):
    the prober fell behind its schedule in that window, and every app's own verdict of the
    claim, with the harness's share of each probe's latency taken out, does not FAIL. A
    neighbour really degraded FAILs its own forgiving view, so the pool keeps its FAIL; a
    part that does not say (no forgiving view) keeps it too. Never a PASS."""
    loads = [p.details.get("harness") or {} for p in parts]
    behind = [load for load in loads if load.get("behind_schedule")]
    if pooled.outcome is not Outcome.FAIL or not behind:
        return pooled
    confirmed = sorted(
        str(p.subject) for p in parts if p.details.get("forgiving_outcome", "FAIL") == "FAIL"
    )
    if confirmed:
        return replace(pooled, details={**pooled.details, "fail_without_harness": confirmed})
    load = behind[0]
    return replace(
        pooled,
        outcome=Outcome.INCONCLUSIVE,
        reason=Reason.HARNESS_SATURATED,
        details={
            **pooled.details,
            "harness": load,
            "explanation": (
                "FAIL only with the harness's own delays counted: the prober was behind its "
                f"schedule (send lag p99 {load.get('send_lag_p99_ms')} ms, held "
                f"{load.get('held_per_s')} of {load.get('offered_per_s')} probes/s) and no "
                "app's probes FAIL without them"
            ),
        },
    )


def steady_state_not_met(spec: DrillSpec, steady: Sequence[Verdict]) -> DrillResult:
    """The drill not run: the platform missed its SLO before any fault (Chaos Toolkit's
    steady-state hypothesis), so a fault's effect could not be told from what was there."""
    rule = rule_by_id(spec.rule_id)
    why = "; ".join(v.summary() for v in steady if not v.passed)
    verdict = rule_verdict(
        rule,
        spec.app_id,
        cases=0,
        violations=[],
        untested=[f"steady state not met before the drills, no fault injected: {why}"],
    )
    figures = {"app": spec.app_id, "fault": spec.fault, "steady_state": why}
    named = replace(
        verdict, check=f"{spec.rule_id} not run: the steady state before it missed the SLO"
    )
    return DrillResult(spec.rule_id, spec.app_id, spec.fault, (named,), figures)


def _recovery(spec: DrillSpec, recovery_s: float | None, tag: Mapping[str, Any]) -> Verdict:
    if recovery_s is None:
        outcome, reason = Outcome.FAIL, Reason.CHECK_FAILED
        why = f"not healthy within {spec.recovery_limit_s + GIVE_UP_AFTER_S:g} s"
    elif recovery_s <= spec.recovery_limit_s:
        outcome, reason, why = Outcome.PASS, Reason.CHECK_PASSED, ""
    else:
        outcome, reason = Outcome.FAIL, Reason.CHECK_FAILED
        why = f"healthy after {recovery_s:.2f} s, over the {spec.recovery_limit_s:g} s limit"
    return Verdict(
        check=f"{spec.rule_id} recovery time (s, from {spec.recovery_from})",
        source="probe",
        outcome=outcome,
        reason=reason,
        threshold=spec.recovery_limit_s,
        estimate=recovery_s,
        lower=None,
        upper=None,
        method="measured",
        alpha=0.0,
        n=1,
        k=0 if outcome is Outcome.PASS else 1,
        subject=spec.app_id,
        details={**tag, "violations": [why] if why else []},
    )


async def open_connections(target: DrillTarget) -> None:
    """One unhurried ``/health`` per app, two at a time per app, so the probes of the first
    window find the client's connections open: on a busy machine a TLS handshake can take
    longer than a probe's 2 s timeout, and probes cut off mid-handshake never open one."""

    async def touch(base_url: str) -> None:
        with contextlib.suppress(httpx.HTTPError):  # the steady-state window will say so
            await target.client.get(base_url + "/health", timeout=15.0)

    urls = [app.base_url for app in target.system_map.apps.values()]
    await asyncio.gather(*(touch(url) for url in urls for _ in range(2)))


async def clear_leftovers(target: DrillTarget) -> list[str]:
    """Roll back every fault an earlier, interrupted run left in the ledger (each undo
    logged as a rollback action); what was cleared, one line each."""
    cleared: list[str] = []
    for fault in target.ledger.pending():
        if fault.owner_alive:
            continue  # another run's drill is under way
        where = target.system_map.apps.get(fault.app_id)
        line = f"{fault.app_id} {fault.kind} left by {fault.test_id} (pid {fault.pid})"
        if where is None or where.base_url != fault.base_url:
            cleared.append(f"{line}: that target no longer runs, nothing to undo")
        else:
            try:
                target.faults.recorder(
                    fault.app_id, f"leftover {fault.kind} of an interrupted run", rollback=True
                )
            finally:
                await asyncio.to_thread(target.rollback, fault.kind, fault.app_id)
            cleared.append(f"{line}: rolled back")
        target.ledger.remove(fault)
    return cleared
