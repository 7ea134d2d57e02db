"""Phase 0 deliverable: ``inventory.md``, what each app of the target serves.

Built from the results model only (the checks whose marks say phase 0): the figures are
the verdicts' own details, never fetched again. An app whose check did not run is listed
as not run; with no phase 0 check at all nothing is written (a report is never a template).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from secondconf.contract.platform import APP_IDS
from secondconf.core.files import write_atomic
from secondconf.engine.results import CheckRecord, ResultsModel
from secondconf.engine.verdict import Verdict
from secondconf.settings import HarnessSettings

INVENTORY_REPORT = "inventory.md"
INVENTORY_PHASE = 0


def inventory_checks(model: ResultsModel) -> dict[str, CheckRecord]:
    """The phase 0 check of each app that ran, keyed by app id."""
    found: dict[str, CheckRecord] = {}
    for record in model.checks.values():
        marks = record.marks or {}
        if marks.get("phase") == INVENTORY_PHASE and marks.get("app"):
            found[marks["app"]] = record
    return found


def write_inventory_report(model: ResultsModel, settings: HarnessSettings) -> None:
    """Write ``<reports_dir>/inventory.md`` atomically, if any phase 0 check ran."""
    checks = inventory_checks(model)
    if not checks:
        return
    write_atomic(settings.reports_dir / INVENTORY_REPORT, inventory_report(model, settings, checks))


def _status(record: CheckRecord | None) -> str:
    if record is None:
        return "NOT RUN"
    if record.outcome == "skipped":
        return "NOT RUN"
    if record.gate_passed:
        return "PASS"
    outcomes = {v.outcome.value for v in record.verdicts if not v.passed}
    return "FAIL" if "FAIL" in outcomes or not record.verdicts else "INCONCLUSIVE"


def _inventory_verdict(record: CheckRecord | None) -> Verdict | None:
    if record is None:
        return None
    return next((v for v in record.verdicts if v.check == "inventory"), None)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _health(details: Mapping[str, Any]) -> str:
    health = details.get("health") or {}
    if health.get("status_code") is None:
        return f"no answer ({health.get('error', 'unknown')})"
    return f"{health['status_code']} status={health.get('status')} app_id={health.get('app_id')}"


def _ready(details: Mapping[str, Any]) -> str:
    ready = details.get("ready") or {}
    if ready.get("status_code") is None:
        return f"no answer ({ready.get('error', 'unknown')})"
    return f"{ready['status_code']} {ready.get('state')}"


def _openapi(details: Mapping[str, Any]) -> tuple[str, str]:
    openapi = details.get("openapi") or {}
    if openapi.get("present"):
        return "present", str(openapi.get("routes"))
    return f"absent ({openapi.get('status_code') or 'no answer'})", "–"


def _app_row(app_id: str, record: CheckRecord | None) -> str:
    status = _status(record)
    verdict = _inventory_verdict(record)
    if verdict is None:
        if record is None:
            why = "check did not run"
        elif record.outcome == "skipped":
            why = f"skipped: {record.skip_reason}"
        else:
            why = "; ".join(record.problems()) or "–"
        return f"| {app_id} | **{status}** | – | – | – | – | – | – | {_cell(why)} |"
    details = verdict.details
    entry = details.get("map_entry") or {}
    served = (details.get("health") or {}).get("version")
    openapi, routes = _openapi(details)
    found = [*details.get("problems", ()), *details.get("notes", ())]
    return (
        f"| {app_id} | **{status}** ({verdict.reason.value}) | {_cell(details.get('base_url'))} | "
        f"{_cell(_health(details))} | {_cell(_ready(details))} | {_cell(openapi)} | "
        f"{_cell(served if served is not None else entry.get('version', '–'))} | "
        f"{routes} (map: {entry.get('routes', '–')}) | {_cell('; '.join(found) or '–')} |"
    )


def inventory_report(
    model: ResultsModel, settings: HarnessSettings, checks: Mapping[str, CheckRecord]
) -> str:
    statuses = {app_id: _status(checks.get(app_id)) for app_id in APP_IDS}
    passed = sum(status == "PASS" for status in statuses.values())
    not_run = [app_id for app_id, status in statuses.items() if status == "NOT RUN"]
    lines = [
        "# Inventory (phase 0)",
        "",
        "Every app of the system map (contract §2) asked once, GET only: `/health` must answer "
        "200 `status: ok` with its own `app_id`; `/ready` must answer 200 `ready` (503 "
        "`not_ready` is recorded and fails); the OpenAPI document is recorded present (with "
        "its route count) or absent (not a failure in phase 0).",
        "",
        f"**Result: {passed} of {len(APP_IDS)} apps PASS**"
        + (f"; not run: {', '.join(not_run)}" if not_run else ""),
        "",
        "## What was run, when, against what",
        "",
        f"- Generated: {model.generated_at}",
        f"- Target: {model.run_info.get('target', 'unknown')} "
        f"(system map `{model.run_info.get('system_map')}`, env `{settings.env.value}`)",
        f"- App versions in the map: {json.dumps(model.run_info.get('versions'))}",
        "",
        "## Per app",
        "",
        "| app | verdict | base URL | /health | /ready | OpenAPI | version | routes | "
        "problems and notes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines.extend(_app_row(app_id, checks.get(app_id)) for app_id in APP_IDS)
    return "\n".join(lines) + "\n"
