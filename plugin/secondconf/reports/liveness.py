"""Phase 1 deliverables: evidence per app, the SLO matrix, and the A8 second confirmation.

Built from the results model only: figures are the verdicts' own, never recomputed. A
report states what the run measured; an app whose check did not run is listed as such.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from secondconf.checks.liveness.measure import LATENCY_CHECK
from secondconf.contract.platform import APP_IDS
from secondconf.core.files import write_atomic
from secondconf.core.versions import library_versions
from secondconf.engine.results import CheckRecord, ResultsModel
from secondconf.engine.verdict import Verdict
from secondconf.reports.charts import ChartRow, latency_chart
from secondconf.settings import HarnessSettings

SLO_MATRIX = "ecosystem_slo_matrix.md"
SLO_MATRIX_CHART = "ecosystem_slo_matrix.png"
CONFIRMATION = "a8_second_confirmation.md"


def liveness_checks(model: ResultsModel) -> dict[str, CheckRecord]:
    """The liveness check of each app that ran, keyed by app id."""
    found: dict[str, CheckRecord] = {}
    for record in model.checks.values():
        marks = record.marks or {}
        if "liveness" in marks.get("tags", ()) and marks.get("app"):
            found[marks["app"]] = record
    return found


def write_liveness_reports(model: ResultsModel, settings: HarnessSettings) -> None:
    checks = liveness_checks(model)
    if not checks:
        return
    generated_at = model.generated_at
    for app_id, record in checks.items():
        evidence = {
            "app_id": app_id,
            "generated_at": generated_at,
            "check": record.nodeid,
            "pytest_outcome": record.outcome,
            "gate_passed": record.gate_passed,
            "run": _run_lines_dict(model, settings),
            "library_versions": library_versions(),
            "verdicts": [v.to_dict() for v in record.verdicts],
        }
        path = settings.evidence_dir / f"{app_id}_health.json"
        write_atomic(path, json.dumps(evidence, indent=2) + "\n")
    write_atomic(settings.reports_dir / SLO_MATRIX, slo_matrix(model, settings, checks))
    write_atomic(settings.reports_dir / SLO_MATRIX_CHART, slo_matrix_chart(checks))
    write_atomic(settings.reports_dir / CONFIRMATION, confirmation(model, settings, checks))


def latency_rows(app_id: str, verdicts: Iterable[Verdict]) -> list[ChartRow]:
    """The app's p95 verdicts from each source (the combined one repeats them)."""
    return [
        ChartRow(f"{app_id} {v.source}", v)
        for v in verdicts
        if v.check == LATENCY_CHECK and v.source != "combined"
    ]


def slo_matrix_chart(checks: dict[str, CheckRecord]) -> bytes:
    rows = [row for app_id, r in sorted(checks.items()) for row in latency_rows(app_id, r.verdicts)]
    return latency_chart(rows, "Phase 1: p95 latency per app, probes and A8 telemetry")


def _run_lines_dict(model: ResultsModel, settings: HarnessSettings) -> dict[str, object]:
    return {
        "target": model.run_info.get("target", "unknown"),
        "system_map": model.run_info.get("system_map"),
        "env": settings.env.value,
        "profile": settings.profile.name,
        "burn_in_s": settings.profile.burn_in_s,
        "window_s": settings.profile.window_s,
        "window": model.run_info.get("liveness_window"),
        "probe_rate_per_target": settings.probe_rate,
        "probes_sent": model.run_info.get("probes_sent"),
        "decision_method": settings.method,
        "confidence": settings.confidence,
        "gating_mode": settings.gating_mode.value,
        "telemetry_deadline_s": settings.telemetry_deadline_s,
        "app_versions": model.run_info.get("versions"),
    }


def _run_section(model: ResultsModel, settings: HarnessSettings) -> list[str]:
    run = _run_lines_dict(model, settings)
    window = run["window"] if isinstance(run["window"], dict) else {}
    return [
        f"- Target: {run['target']} (system map `{run['system_map']}`, env `{run['env']}`)",
        f"- Window: {window.get('start', 'n/a')} → {window.get('end', 'n/a')} "
        f"(profile `{run['profile']}`: burn-in {run['burn_in_s']:g} s discarded, "
        f"stable window {run['window_s']:g} s)",
        f"- Probes: {run['probes_sent']} sent, {run['probe_rate_per_target']:g}/s to each "
        "`/health` and `/ready`, open loop, latency from the scheduled send time",
        f"- Decision: `{run['decision_method']}` bounds at {run['confidence']:g} confidence, "
        f"`{run['gating_mode']}` gating; error rate < 1 %, p95 ≤ 120 ms; telemetry must hold "
        f"every probe within {run['telemetry_deadline_s']:g} s",
    ]


def _number(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


def _bounds(verdict: Verdict) -> str:
    if verdict.lower is None and verdict.upper is None:
        return "–"
    return f"[{_number(verdict.lower)}, {_number(verdict.upper)}]"


def _matrix_rows(app_id: str, verdicts: Iterable[Verdict]) -> list[str]:
    return [
        f"| {app_id} | {v.check} | {v.source} | {_number(v.estimate)} | {_bounds(v)} | "
        f"{v.n} | {v.k} | {v.method} | **{v.outcome.value}** ({v.reason.value}) |"
        for v in verdicts
    ]


def slo_matrix(
    model: ResultsModel, settings: HarnessSettings, checks: dict[str, CheckRecord]
) -> str:
    lines = [
        "# Ecosystem SLO matrix (phase 1: dual-source liveness)",
        "",
        *_run_section(model, settings),
        "",
        "Estimates are error rates (fraction), p95 latencies (ms) or the missing fraction "
        "(completeness); bounds are the confidence bounds the verdict was decided on.",
        "",
        f"![p95 latency per app and source, with bounds]({SLO_MATRIX_CHART})",
        "",
        "| app | check | source | estimate | bounds | n | k | method | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for app_id in APP_IDS:
        record = checks.get(app_id)
        if record is None:
            lines.append(f"| {app_id} | – | – | – | – | – | – | – | **NOT RUN** |")
        elif not record.verdicts:
            lines.append(f"| {app_id} | – | – | – | – | – | – | – | **{record.outcome}** |")
        else:
            lines.extend(_matrix_rows(app_id, record.verdicts))
    return "\n".join(lines) + "\n"


def _app_status(record: CheckRecord | None) -> str:
    if record is None:
        return "NOT RUN"
    if record.gate_passed:
        return "PASS"
    outcomes = {v.outcome.value for v in record.verdicts if not v.passed}
    return "FAIL" if "FAIL" in outcomes or not record.verdicts else "INCONCLUSIVE"


def _combined(record: CheckRecord | None) -> Sequence[Verdict]:
    return [] if record is None else [v for v in record.verdicts if v.source == "combined"]


def confirmation(
    model: ResultsModel, settings: HarnessSettings, checks: dict[str, CheckRecord]
) -> str:
    statuses = {app_id: _app_status(checks.get(app_id)) for app_id in APP_IDS}
    met = all(status == "PASS" for status in statuses.values())
    lines = [
        "# A8 second confirmation",
        "",
        "Acceptance criterion: **two-source PASS for all A1–A8** — for every app, the "
        "harness's own probes and A8's telemetry each show error rate < 1 % and "
        "p95 ≤ 120 ms by their confidence bounds, and A8 holds every probe.",
        "",
        f"**Result: {'MET' if met else 'NOT MET'}** "
        f"({sum(s == 'PASS' for s in statuses.values())} of {len(APP_IDS)} apps PASS)",
        "",
        "## What was run, when, against what",
        "",
        f"- Generated: {model.generated_at}",
        *_run_section(model, settings),
        f"- App versions: {json.dumps(model.run_info.get('versions'))}",
        "",
        "## Per app",
        "",
        "| app | verdict | combined checks (probe AND telemetry) | not PASS |",
        "|---|---|---|---|",
    ]
    for app_id in APP_IDS:
        record = checks.get(app_id)
        combined = ", ".join(f"{v.check}: {v.outcome.value}" for v in _combined(record))
        problems = "; ".join(record.problems()) if record is not None else "check did not run"
        lines.append(
            f"| {app_id} | **{statuses[app_id]}** | {combined or '–'} | {problems or '–'} |"
        )
    lines += ["", f"Evidence: `{settings.evidence_dir}/<app>_health.json`; matrix: `{SLO_MATRIX}`."]
    return "\n".join(lines) + "\n"
