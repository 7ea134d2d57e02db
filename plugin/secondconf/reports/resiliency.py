"""Phase 7's deliverable: ``a3_resiliency_report.md``, every drill's figures.

Built from the drills' run-info section (what the session measured, once) and the drill
checks' verdicts: per drill the fault, the detection time, the containment bounds and
the recovery time against its limit, then the leftovers a run cleared and the phase's
wall time. A drill whose check did not run is listed as such; the file is written only
when the drills ran.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from secondconf.checks.resiliency.drills import CONFIRMATION, DETECTION
from secondconf.checks.resiliency.run import DRILLS_SECTION, DrillsRun
from secondconf.core.files import write_atomic
from secondconf.engine.results import ResultsModel
from secondconf.settings import HarnessSettings

REPORT: Final = "a3_resiliency_report.md"


def write_resiliency_report(model: ResultsModel, settings: HarnessSettings) -> None:
    section = model.run_info.get(DRILLS_SECTION)
    if not section:
        return
    run = DrillsRun.from_dict(section)
    write_atomic(settings.reports_dir / REPORT, resiliency_report(model, run))


def _seconds(value: Any) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def _bound(item: Mapping[str, Any]) -> str:
    upper = item.get("upper")
    upper_text = "n/a" if upper is None else f"{upper:.4f}"
    return (
        f"{item['k']}/{item['n']}, upper {upper_text} vs {item['threshold']:g}: {item['outcome']}"
    )


def resiliency_report(model: ResultsModel, run: DrillsRun) -> str:
    outcome = {
        (v.details.get("rule")): c.gate_passed
        for c in model.checks.values()
        for v in c.verdicts
        if v.details.get("rule")
    }
    lines = [
        "# A3 resiliency report (phase 7)",
        "",
        f"Generated {model.generated_at} (run {model.run_id}). Drills: one app and one fault at"
        " a time, every fault rolled back in a `finally` and logged in the HITL log.",
        "",
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
        "A3 under dependency faults (A4 failing) is not measured by these drills; the"
        " error-correction checks (ERR-04, `error_correction_learning.md`) cover A3's"
        " self-healing cycles.",
        "",
    ]
    return "\n".join(lines)
