"""Phase 7's deliverable: ``a3_resiliency_report.md``, every drill's figures and A3
under A4's faults.

Built from the run-info sections (what the session measured, once) and the checks'
verdicts: per drill the fault, the detection time, the containment bounds and the
recovery time against its limit, then the leftovers a run cleared and the phase's wall
time, with a chart of the same figures (``a3_resiliency_drills.png``, beside the report);
then DEP-01, A3 under A4's 503s: the cycles that met a failure and healed, the run's
progress, and A3 after A4's recovery. A drill whose check did not run is listed as such;
the file is written when the drills or DEP-01 ran.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from secondconf.checks.resiliency.a3_under_a4 import A3_UNDER_A4_SECTION, DependencyRun
from secondconf.checks.resiliency.drills import CONFIRMATION, DETECTION
from secondconf.checks.resiliency.run import DRILLS_SECTION, DrillsRun
from secondconf.core.files import write_atomic
from secondconf.engine.results import ResultsModel
from secondconf.engine.verdict import Verdict
from secondconf.reports.drill_chart import drills_chart
from secondconf.settings import HarnessSettings

REPORT: Final = "a3_resiliency_report.md"
DRILLS_CHART: Final = "a3_resiliency_drills.png"


def write_resiliency_report(model: ResultsModel, settings: HarnessSettings) -> None:
    drills, dependency = model.run_info.get(DRILLS_SECTION), model.run_info.get(A3_UNDER_A4_SECTION)
    if not drills and not dependency:
        return
    run = DrillsRun.from_dict(drills) if drills else None
    settings.reports_dir.mkdir(parents=True, exist_ok=True)
    if run is not None and _measured(run):
        chart = drills_chart(run.results, "Phase 7 drills: detection, recovery, containment")
        write_atomic(settings.reports_dir / DRILLS_CHART, chart)
    a3 = DependencyRun.from_dict(dependency) if dependency else None
    write_atomic(settings.reports_dir / REPORT, resiliency_report(model, run, a3))


def _measured(run: DrillsRun) -> bool:
    """Whether any drill measured a detection or a recovery (else there is no chart)."""
    return any(
        r.figures.get("detection_s") is not None or r.figures.get("recovery_s") is not None
        for r in run.results
    )


def _seconds(value: Any) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def _bound(item: Mapping[str, Any]) -> str:
    upper = item.get("upper")
    upper_text = "n/a" if upper is None else f"{upper:.4f}"
    return (
        f"{item['k']}/{item['n']}, upper {upper_text} vs {item['threshold']:g}: {item['outcome']}"
    )


def resiliency_report(
    model: ResultsModel, run: DrillsRun | None, dependency: DependencyRun | None = None
) -> str:
    head = [
        "# A3 resiliency report (phase 7)",
        "",
        f"Generated {model.generated_at} (run {model.run_id}). Drills: one app and one fault at"
        " a time, every fault rolled back in a `finally` and logged in the HITL log.",
        "",
    ]
    drills = ["Drills: not run in this session.", ""] if run is None else _drills(model, run)
    return "\n".join([*head, *drills, *_a3_under_a4(model, dependency)])


def _drills(model: ResultsModel, run: DrillsRun) -> list[str]:
    outcome = {
        (v.details.get("rule")): c.gate_passed
        for c in model.checks.values()
        for v in c.verdicts
        if v.details.get("rule")
    }
    lines = [
        f"- Detection: every app probed at {DETECTION.rate_per_target:g}/s per route for"
        f" {DETECTION.window_s:g} s from the fault; the faulted app's liveness must FAIL. Time"
        f" = end of the first {DETECTION.slice_s:g} s slice with a failed or slow probe.",
        "- Containment: the other apps' probes pooled over that window, judged with 95 % Wilson"
        " bounds: errors < 1 %, probes slower than 120 ms < 5 % (the p95 SLO).",
        "- Recovery: from the rollback (kill, 503, latency) or from the restart (restart, cold"
        " start) to the first of ten healthy polls in a row (/health and /ready 200),"
        " against the drill's limit; then the app alone at"
        f" {CONFIRMATION.rate_per_target:g}/s per route for {CONFIRMATION.window_s:g} s must PASS.",
        "",
    ]
    if run.skip_reason:
        lines += [f"Not run: {run.skip_reason}.", ""]
    for verdict in run.steady_state:
        lines.append(f"Steady state before the drills: {verdict.summary()}")
    lines += [
        "",
        "| Drill | App | Fault | Detected after | Containment errors | Containment slow |"
        " Recovery (limit) | Healthy again | Check |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for result in run.results:
        f = result.figures
        contained = f.get("containment") or []
        errors = next((c for c in contained if "error_rate" in c["check"]), None)
        slow = next((c for c in contained if "slow_fraction" in c["check"]), None)
        passed = outcome.get(result.rule_id)
        check = "not run" if passed is None else "PASS" if passed else "NOT PASS"
        recovery = f"{_seconds(f.get('recovery_s'))} ({f.get('recovery_limit_s', 'n/a')} s)"
        lines.append(
            f"| {result.rule_id} | {result.app_id} | {result.fault} |"
            f" {_seconds(f.get('detection_s'))} |"
            f" {_bound(errors) if errors else 'n/a'} | {_bound(slow) if slow else 'n/a'} |"
            f" {recovery} | {'yes' if f.get('confirmed') else 'no'} | {check} |"
        )
    for result in run.results:
        if problems := result.figures.get("problems"):
            lines.append(f"- {result.rule_id}: {'; '.join(problems)}")
        if steady := result.figures.get("steady_state"):
            lines.append(f"- {result.rule_id}: not run, steady state not met ({steady})")
    lines += [
        "",
        "Leftovers of interrupted runs cleared before the drills: "
        + ("; ".join(run.leftovers_cleared) if run.leftovers_cleared else "none"),
        "",
        f"Phase wall time: {run.wall_s:.1f} s.",
        "",
    ]
    if _measured(run):
        lines += [f"![Drills: detection, recovery against its limit, containment]({DRILLS_CHART})"]
        lines += [""]
    return lines


def _a3_under_a4(model: ResultsModel, run: DependencyRun | None) -> list[str]:
    """DEP-01's section: the three verdicts and the figures they were judged on."""
    lines = ["## A3 under dependency faults (DEP-01: A4 answering 503)", ""]
    if run is None:
        return [*lines, "Not run in this session.", ""]
    plan = run.plan
    lines += [
        f"{plan.runs} A3 runs started together ({len(run.run_ids)} started), each of"
        f" {plan.cycles} cycles {plan.cycle_interval_ms} ms apart, their records summed every"
        f" {plan.poll_s:g} s: {plan.baseline_s:g} s healthy, then"
        f" {plan.fault_s:g} s with 503s on {plan.fraction:.0%} of A4's requests (set and rolled"
        f" back through the logged fault control), then {plan.recovery_s:g} s after A4"
        " recovered. Each cycle attempt asks A4 first; a failed attempt is retried by A3 itself.",
        "",
    ]
    if run.problem:
        lines += [f"Not measured: {run.problem}.", ""]
    verdicts = [
        v for c in model.checks.values() for v in c.verdicts if v.details.get("rule") == "DEP-01"
    ]
    if verdicts:
        lines += ["| Claim | Verdict | Figures |", "|---|---|---|"]
        lines += [
            f"| {v.subject} | {v.outcome.value} ({v.reason.value}) | {_figures(v)} |"
            for v in verdicts
        ]
        lines += [""]
        lines += [
            f"- {v.subject}: {'; '.join(problems)}"
            for v in verdicts
            if (problems := v.details.get("violations"))
        ]
    else:
        lines += ["DEP-01's check recorded no verdict in this session.", ""]
    lines += [
        "",
        f"Fault window: {_seconds(run.fault_at_s)} to {_seconds(run.recovered_at_s)} from the"
        f" run's start (the rollback included); A3 `/ready` at the end: {run.ready_status}."
        f" Wall time: {run.wall_s:.1f} s.",
        "",
    ]
    return lines


def _figures(verdict: Verdict) -> str:
    d = verdict.details
    if "healed" in d:
        upper = "n/a" if verdict.upper is None else f"{verdict.upper:.3f}"
        return (
            f"{d['cycles']} cycles in the fault window; {d['healed']} met a failure and healed,"
            f" {d['failed']} failed for good; unhealed share upper bound {upper}"
            f" vs {verdict.threshold:g}"
        )
    if "healthy_cycles_per_s" in d:
        healthy, faulted = d.get("healthy_cycles_per_s"), d.get("fault_cycles_per_s")
        return (
            f"{_rate(healthy)} cycles/s healthy, {_rate(faulted)} while A4 failed;"
            f" {d.get('succeeded_during_fault')} succeeded meanwhile"
        )
    return (
        f"{d.get('succeeded_after')} cycles succeeded after A4 recovered,"
        f" {d.get('failed_after')} failed; /ready {d.get('ready')}"
    )


def _rate(value: Any) -> str:
    return "n/a" if value is None else f"{value:.2f}"
