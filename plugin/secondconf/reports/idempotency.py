"""Phase 3 deliverable: ``idempotency_validation.md``, every hardening rule as checked.

Built from the results model only: the checks marked ``idempotency`` and their verdicts,
plus the routes the hardening run discovered (run info section
:data:`HARDENING_ROUTES_SECTION`, each app's ``AppCoverage.to_dict()``). For each
rule: its verdict per app, the routes it covered, held, violated, could not test or did
not apply to, and every request it sent with its answer. A check that did not run (a HITL
check without approval) is listed with its skip reason; with no such check at all nothing
is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from secondconf.core.files import write_atomic
from secondconf.engine.evidence import RequestRecord
from secondconf.engine.results import CheckRecord, ResultsModel
from secondconf.engine.verdict import Outcome
from secondconf.settings import HarnessSettings

IDEMPOTENCY_REPORT: Final = "idempotency_validation.md"
IDEMPOTENCY_TAG: Final = "idempotency"
# The run_info section where the hardening fixture puts each app's routes.
HARDENING_ROUTES_SECTION: Final = "hardening_routes"


def idempotency_checks(model: ResultsModel) -> list[CheckRecord]:
    """The checks marked ``idempotency``, in the order they ran."""
    return [
        record
        for record in model.checks.values()
        if IDEMPOTENCY_TAG in ((record.marks or {}).get("tags") or ())
    ]


def write_idempotency_report(model: ResultsModel, settings: HarnessSettings) -> None:
    """Write ``<reports_dir>/idempotency_validation.md`` atomically, if any check ran."""
    checks = idempotency_checks(model)
    if checks:
        write_atomic(
            settings.reports_dir / IDEMPOTENCY_REPORT, idempotency_report(model, settings, checks)
        )


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _check_status(record: CheckRecord) -> str:
    if record.outcome == "skipped":
        return "NOT RUN (deliberate)" if record.deliberate_skip else "NOT RUN"
    if record.gate_passed:
        return "PASS"
    outcomes = {v.outcome for v in record.verdicts}
    if Outcome.FAIL in outcomes or not record.verdicts:
        return "FAIL"
    return "INCONCLUSIVE"


def idempotency_report(
    model: ResultsModel, settings: HarnessSettings, checks: list[CheckRecord]
) -> str:
    verdicts = [v for record in checks for v in record.verdicts]
    counts = {o: sum(v.outcome is o for v in verdicts) for o in Outcome}
    not_run = [record for record in checks if record.outcome == "skipped"]
    lines = [
        "# Idempotency, trace headers, tenants, cookies, OIDC and production safety (phase 3)",
        "",
        "Every rule of contract §2a (credentials), §4 (mutations: headers, idempotency, "
        "tenants), §5 (synthetic traffic) and §6 (telemetry), checked against the target. "
        "Each verdict is exhaustive over the cases it could exercise: PASS when every case "
        "held, FAIL naming each violation, INCONCLUSIVE when nothing could be exercised "
        "(it fails the gate). Side effects are counted in A8, never read from status codes.",
        "",
        f"**Result: {len(checks) - len(not_run)} check(s) ran, {len(verdicts)} verdict(s): "
        f"{counts[Outcome.PASS]} PASS, {counts[Outcome.FAIL]} FAIL, "
        f"{counts[Outcome.INCONCLUSIVE]} INCONCLUSIVE; {len(not_run)} not run**",
        "",
        "## What was run, against what",
        "",
        f"- Generated: {model.generated_at}",
        f"- Target: {model.run_info.get('target', 'unknown')} "
        f"(system map `{model.run_info.get('system_map')}`, env `{settings.env.value}`)",
        "",
    ]
    lines += _routes_section(model.run_info.get(HARDENING_ROUTES_SECTION))
    lines += [
        "## Verdicts",
        "",
        "| check | status | subject | rule | verdict | cases | violations | untested |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for record in checks:
        lines += _verdict_rows(record)
    lines += ["", "## Requests sent, rule by rule", ""]
    for record in checks:
        lines += _requests_section(record)
    return "\n".join(lines) + "\n"


def _routes_section(routes: Mapping[str, Any] | None) -> list[str]:
    if not routes:
        return ["## Routes", "", "No route discovery ran (the header rules did not run).", ""]
    lines = [
        "## Routes (from each app's OpenAPI document)",
        "",
        "| app | route | covered by §4 | note |",
        "|---|---|---|---|",
    ]
    for app_id, summary in sorted(routes.items()):
        lines += [f"| {app_id} | `{route}` | yes | – |" for route in summary.get("covered", ())]
        lines += [
            f"| {app_id} | `{item['route']}` | exempt | {_cell(item['reason'])} |"
            for item in summary.get("exempt", ())
        ]
        lines += [
            f"| {app_id} | `{item['route']}` | **not tested** | {_cell(item['reason'])} |"
            for item in summary.get("untested", ())
        ]
    return [*lines, ""]


def _verdict_rows(record: CheckRecord) -> list[str]:
    name = record.nodeid.rpartition("::")[2]
    status = _check_status(record)
    if not record.verdicts:
        why = record.skip_reason or record.failure or "no verdict recorded"
        return [f"| `{_cell(name)}` | **{status}** | – | – | – | – | {_cell(why)} | – |"]
    return [
        f"| `{_cell(name)}` | **{status}** | {_cell(v.subject)} | {_cell(v.check)} | "
        f"{v.outcome.value} ({v.reason.value}) | {v.n} | "
        f"{_cell('; '.join(v.details.get('violations', ())) or '–')} | "
        f"{_cell('; '.join(v.details.get('untested', ())) or '–')} |"
        for v in record.verdicts
    ]


def _requests_section(record: CheckRecord) -> list[str]:
    lines: list[str] = []
    for verdict in record.verdicts:
        lines += [f"### {verdict.check}: {verdict.subject} ({verdict.outcome.value})", ""]
        routes = verdict.details.get("routes") or {}
        lines += [f"- `{route}`: {_cell(state)}" for route, state in routes.items()]
        lines += [f"- note: {_cell(note)}" for note in verdict.details.get("notes", ())]
        lines += _request_table(verdict.details.get("requests") or ())
        lines.append("")
    return lines


def _request_table(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """One line per request (a verdict's ``requests``: :class:`RequestRecord` s as JSON)."""
    records = [RequestRecord.from_dict(row) for row in rows]
    lines = [
        f"| {_cell(r.app)} | `{_cell(r.method)} {_cell(r.path)}` | {_cell(r.sent)} "
        f"| {r.status if r.status is not None else '–'} "
        f"| {_cell(r.result + (f' ({r.note})' if r.note else ''))} |"
        for r in records
    ]
    if not lines:
        return []
    return ["", "| app | request | sent | status | result |", "|---|---|---|---|---|", *lines]
