"""Phase 2 deliverable: ``baseline_results.json``, per endpoint, from the results model.

Figures are the verdicts' own (locust's counts and percentiles ride in their details),
never recomputed. A baseline check that did not run (skipped, errored) is reported as
such, with no figures.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from secondconf.checks.load.baseline import (
    ERROR_CHECK,
    LATENCY_CHECK,
    MAX_ERROR_RATE,
    MAX_P95_MS,
    ROUNDING_NOTE,
)
from secondconf.core.files import write_atomic
from secondconf.core.versions import library_versions
from secondconf.engine.results import CheckRecord, ResultsModel
from secondconf.engine.verdict import Verdict
from secondconf.reports.charts import ChartRow, latency_chart
from secondconf.settings import HarnessSettings

BASELINE_RESULTS: Final = "baseline_results.json"
BASELINE_CHART: Final = "baseline_latency.png"
# The run_info section where the suite puts how locust ran (LocustRun.to_dict()).
BASELINE_SECTION: Final = "baseline"
_FIGURES = ("num_requests", "num_failures", "p50_ms", "p95_ms", "p99_ms", "max_ms")


def baseline_checks(model: ResultsModel) -> list[CheckRecord]:
    """The phase-2 load checks that were collected (run or not)."""
    return [
        record
        for record in model.checks.values()
        if (marks := record.marks or {}).get("phase") == 2 and "load" in marks.get("tags", ())
    ]


def _endpoint_rows(records: list[CheckRecord]) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for record in records:
        for verdict in record.verdicts:
            if verdict.check not in (ERROR_CHECK, LATENCY_CHECK) or verdict.subject is None:
                continue
            row = rows.setdefault(verdict.subject, _new_row(verdict.subject, record.nodeid))
            figures: Mapping[str, Any] = verdict.details
            row.update({k: figures[k] for k in _FIGURES if k in figures})
            key = "error_rate" if verdict.check == ERROR_CHECK else "p95"
            row[key] = verdict.to_dict()
    for row in rows.values():
        verdicts = [row[k]["outcome"] for k in ("error_rate", "p95") if k in row]
        row["outcome"] = "PASS" if verdicts and set(verdicts) == {"PASS"} else _worst(verdicts)
    return list(rows.values())


def _new_row(name: str, nodeid: str) -> dict[str, Any]:
    app_id, _, route = name.partition(" ")
    return {"endpoint": name, "app_id": app_id, "route": route, "check": nodeid}


def _worst(outcomes: list[str]) -> str:
    if "FAIL" in outcomes:
        return "FAIL"
    return "INCONCLUSIVE"


def baseline_results(model: ResultsModel, settings: HarnessSettings) -> dict[str, Any]:
    records = baseline_checks(model)
    endpoints = _endpoint_rows(records)
    return {
        "generated_at": model.generated_at,
        "phase": 2,
        "target": model.run_info.get("target", "unknown"),
        "system_map": model.run_info.get("system_map"),
        "env": settings.env.value,
        "app_versions": model.run_info.get("versions"),
        "run": model.run_info.get(BASELINE_SECTION),
        "criteria": {
            "error_rate_below": MAX_ERROR_RATE,
            "error_rate_decision": f"{settings.method} bounds at {settings.confidence:g}",
            "p95_ms_at_most": MAX_P95_MS,
            "p95_decision": "order statistics on locust's histogram (slow-count form)",
            "rounding": ROUNDING_NOTE,
        },
        "gate_passed": bool(records) and all(r.gate_passed for r in records),
        "checks": [r.summary() for r in records],
        "endpoints": endpoints,
        "chart": BASELINE_CHART,
        "library_versions": library_versions(),
    }


def write_baseline_report(model: ResultsModel, settings: HarnessSettings) -> None:
    """Write ``baseline_results.json`` when a phase-2 load check was collected."""
    if not baseline_checks(model):
        return
    document = baseline_results(model, settings)
    write_atomic(settings.reports_dir / BASELINE_RESULTS, json.dumps(document, indent=2) + "\n")
    write_atomic(settings.reports_dir / BASELINE_CHART, baseline_chart(document))


def baseline_chart(document: Mapping[str, Any]) -> bytes:
    """Each endpoint's p95 with its order-statistic bounds against 120 ms."""
    rows = [
        ChartRow(name, verdicts[1])
        for name, verdicts in endpoint_verdicts(document).items()
        if len(verdicts) == 2
    ]
    return latency_chart(rows, "Phase 2: p95 latency per endpoint under the baseline load")


def endpoint_verdicts(document: Mapping[str, Any]) -> dict[str, list[Verdict]]:
    """Read the verdicts back from a written report (for tests and downstream tools)."""
    return {
        row["endpoint"]: [Verdict.from_dict(row[k]) for k in ("error_rate", "p95") if k in row]
        for row in document.get("endpoints", [])
    }
