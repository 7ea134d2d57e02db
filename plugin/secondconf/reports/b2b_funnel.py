"""Phase 3 deliverable: ``b2b_funnel_results.json``, from the B2B checks' verdicts.

Figures are the verdicts' own, never recomputed: provider signup (B2B-01, with each
journey's row), the journeys' events in A8 (B2B-02), the ``a6_register_billing`` load per
endpoint (B2B-03: error rate and p95 with their bounds) and the first request after each
cold start (B2B-04). A B2B check that did not run is listed with why, without figures.
``docs/runbooks/b2b_recovery.md`` says what to do when one fails.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any, Final

from secondconf.core.files import write_atomic
from secondconf.core.versions import library_versions
from secondconf.engine.results import CheckRecord, ResultsModel
from secondconf.engine.verdict import Verdict
from secondconf.reports.charts import distribution_chart
from secondconf.settings import HarnessSettings

B2B_RESULTS: Final = "b2b_funnel_results.json"
B2B_CHART: Final = "b2b_funnel_latency.png"
MARKER: Final = "funnel_b2b"
RUNBOOK: Final = "docs/runbooks/b2b_recovery.md"
_LOAD_FIGURES: Final = ("num_requests", "num_failures", "p50_ms", "p95_ms", "p99_ms", "max_ms")


def b2b_checks(model: ResultsModel) -> list[CheckRecord]:
    """The B2B funnel checks that were collected (run or not)."""
    return [r for r in model.checks.values() if MARKER in (r.marks or {}).get("tags", ())]


def _verdicts(records: list[CheckRecord], rule_id: str) -> list[Verdict]:
    return [v for r in records for v in r.verdicts if v.details.get("rule") == rule_id]


def _compact(verdict: Verdict) -> dict[str, Any]:
    """A verdict without its bulky details (the rows are reported beside it)."""
    document = verdict.to_dict()
    document["details"] = {k: v for k, v in verdict.details.items() if k != "journey_table"}
    return document


def step_samples(journeys: Iterable[Mapping[str, Any]]) -> dict[str, list[float]]:
    """Per step, the latencies (s) of the journeys that passed it."""
    by_step: dict[str, list[float]] = {}
    for journey in journeys:
        for step, latency in (journey.get("steps") or {}).items():
            if latency is not None:
                by_step.setdefault(step, []).append(float(latency))
    return by_step


def step_latencies(journeys: list[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per step, over the journeys that passed it: n, median, p95 (nearest rank), max (s)."""
    summary: dict[str, dict[str, Any]] = {}
    for step, values in step_samples(journeys).items():
        ordered = sorted(values)
        summary[step] = {
            "n": len(ordered),
            "p50_s": ordered[math.ceil(0.50 * len(ordered)) - 1],
            "p95_s": ordered[math.ceil(0.95 * len(ordered)) - 1],
            "max_s": ordered[-1],
        }
    return summary


def _signup(records: list[CheckRecord]) -> dict[str, Any] | None:
    found = _verdicts(records, "B2B-01")
    if not found:
        return None
    verdict = found[0]
    journeys = list(verdict.details.get("journey_table", []))
    return {
        "verdict": _compact(verdict),
        "step_latency_s": step_latencies(journeys),
        "journeys": journeys,
    }


def _load(records: list[CheckRecord]) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for verdict in _verdicts(records, "B2B-03"):
        subject = verdict.subject or "?"
        row = rows.setdefault(subject, {"endpoint": subject})
        figures: Mapping[str, Any] = verdict.details
        row.update({k: figures[k] for k in _LOAD_FIGURES if k in figures})
        key = "p95" if "latency" in str(figures.get("measure", "")) else "error_rate"
        row[key] = _compact(verdict)
    for row in rows.values():
        outcomes = {row[k]["outcome"] for k in ("error_rate", "p95") if k in row}
        row["outcome"] = (
            "PASS" if outcomes == {"PASS"} else ("FAIL" if "FAIL" in outcomes else "INCONCLUSIVE")
        )
    return list(rows.values())


def _cold_starts(records: list[CheckRecord]) -> list[dict[str, Any]]:
    return [
        {
            "app_id": v.subject,
            "outcome": v.outcome.value,
            "first_request_ms": v.estimate,
            "threshold_ms": v.threshold,
            **{k: v.details.get(k) for k in ("route", "ready_after_s", "warm_median_ms")},
            "verdict": _compact(v),
        }
        for v in _verdicts(records, "B2B-04")
    ]


def b2b_results(model: ResultsModel, settings: HarnessSettings) -> dict[str, Any]:
    records = b2b_checks(model)
    events = _verdicts(records, "B2B-02")
    return {
        "generated_at": model.generated_at,
        "phase": 3,
        "funnel": "B2B: A7 provider page -> A6 portal (sign-up at A1) -> A8",
        "target": model.run_info.get("target", "unknown"),
        "env": settings.env.value,
        "app_versions": model.run_info.get("versions"),
        "criteria": {
            "provider_signup": "success >= 90 % by the lower two-sided Wilson 95 % limit, "
            "first attempts only (a journey passing only on retry is never a success)",
            "events": "each journey's events in A8 within 60 s, its trace id, synthetic tags",
            "load": "a6_register_billing per endpoint: error rate < 1 % "
            f"({settings.method} bounds at {settings.confidence:g}), p95 <= 120 ms",
            "cold_start": "every first request after a cold start within 120 ms (the SLO)",
        },
        "gate_passed": bool(records) and all(r.gate_passed for r in records),
        "checks": [r.summary() for r in records],
        "provider_signup": _signup(records),
        "events": _compact(events[0]) if events else None,
        "load_a6_register_billing": _load(records),
        "cold_starts": _cold_starts(records),
        "runbook": RUNBOOK,
        "library_versions": library_versions(),
    }


def write_b2b_report(model: ResultsModel, settings: HarnessSettings) -> None:
    """Write ``b2b_funnel_results.json`` when a B2B funnel check was collected."""
    if not b2b_checks(model):
        return
    document = b2b_results(model, settings)
    journeys = (document.get("provider_signup") or {}).get("journeys", ())
    write_atomic(
        settings.reports_dir / B2B_CHART,
        distribution_chart(step_samples(journeys), "B2B: each step's latency", "seconds"),
    )
    document["chart"] = B2B_CHART
    write_atomic(settings.reports_dir / B2B_RESULTS, json.dumps(document, indent=2) + "\n")
