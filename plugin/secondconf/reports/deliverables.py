"""Every seed deliverable, from every gate run: written by its checks, or saying why not.

The seed names eleven files. Each phase's writer makes its own when its checks ran; this
writer runs after them and, for each deliverable no writer produced in this run, writes
one that says which of its checks did not run and why (deselected by the marker
expression, skipped awaiting a HITL approval, failed before measuring): never absent,
never a template. ``deliverables.md`` lists them all with their status, so a person (and
``scripts/main-job.sh``) finds each one. The HITL log is the exception: it is hash-chained
and belongs to no run, so it is listed, never written here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from secondconf.core.files import write_atomic
from secondconf.engine.results import CheckRecord, ResultsModel
from secondconf.reports.outputs import written_since
from secondconf.settings import HarnessSettings

INDEX: Final = "deliverables.md"


@dataclass(frozen=True)
class Deliverable:
    """One seed deliverable: its file (in the reports folder) and the checks that feed it,
    named by their capability marker."""

    name: str
    title: str
    markers: tuple[str, ...]


SEED_DELIVERABLES: Final[tuple[Deliverable, ...]] = (
    Deliverable("ecosystem_slo_matrix.md", "Ecosystem SLO matrix (phase 1)", ("liveness",)),
    Deliverable("baseline_results.json", "Baseline load results (phase 2)", ("load",)),
    Deliverable("a8_second_confirmation.md", "A8 second confirmation (phase 1)", ("liveness",)),
    Deliverable("a3_resiliency_report.md", "A3 resiliency report (phase 7)", ("resiliency",)),
    Deliverable("b2c_funnel_results.json", "B2C funnel results (phase 3)", ("funnel_b2c",)),
    Deliverable("b2b_funnel_results.json", "B2B funnel results (phase 3)", ("funnel_b2b",)),
    Deliverable("a8_data_lineage.md", "A8 revenue lineage (phase 4)", ("monetization",)),
    Deliverable(
        "error_correction_learning.md", "Error correction (phase 6)", ("resiliency", "learning")
    ),
    Deliverable("rl_signal_path.md", "The bandit's signal path (phase 6)", ("learning",)),
    Deliverable("hitl_approvals.log", "HITL approvals and run log", ()),
    Deliverable("idempotency_validation.md", "Idempotency validation (phase 3)", ("idempotency",)),
)


# What the phase issues add beside the seed's eleven (their runbooks are tracked docs, in
# docs/runbooks/, so every run has them).
EXTRA_DELIVERABLES: Final[tuple[Deliverable, ...]] = (
    Deliverable("auth_trace_log.json", "B2C auth trace log (phase 3)", ("funnel_b2c",)),
    Deliverable("compliance.md", "Compliance: PII, COPPA, FERPA, integrity", ("compliance",)),
    Deliverable(
        "billing_logic_verification.md", "Billing logic verification (phase 4)", ("monetization",)
    ),
)
DELIVERABLES: Final = SEED_DELIVERABLES + EXTRA_DELIVERABLES


def feeding_checks(model: ResultsModel, deliverable: Deliverable) -> list[CheckRecord]:
    """The run's checks carrying one of the deliverable's capability markers."""
    return [
        record
        for record in model.checks.values()
        if set((record.marks or {}).get("tags") or ()) & set(deliverable.markers)
    ]


def why_not_run(model: ResultsModel, deliverable: Deliverable) -> list[str]:
    """One line per check (or one for none) saying why it produced no deliverable."""
    records = feeding_checks(model, deliverable)
    if not records:
        selection = model.selection
        expression = (selection.mark_expression if selection else "") or "(none)"
        markers = ", ".join(f"`{m}`" for m in deliverable.markers)
        return [f"no check marked {markers} was selected in this run (-m {expression})"]
    lines = []
    for record in records:
        if record.outcome == "skipped":
            lines.append(f"{record.nodeid}: skipped: {record.skip_reason or 'no reason given'}")
        elif record.outcome != "passed" and not record.verdicts:
            detail = (record.failure or "no detail").strip().splitlines()
            lines.append(f"{record.nodeid}: {record.outcome} before measuring: {detail[0]}")
        else:
            lines.append(f"{record.nodeid}: ran ({record.outcome}) but its writer wrote nothing")
    return lines


def _not_run_markdown(model: ResultsModel, deliverable: Deliverable, reasons: Sequence[str]) -> str:
    return "\n".join(
        [
            f"# {deliverable.title}: NOT RUN",
            "",
            f"Run {model.run_id or 'unknown'}, generated {model.generated_at}. This run "
            "measured nothing for this deliverable, so it holds no figures; its checks:",
            "",
            *(f"- {reason}" for reason in reasons),
            "",
        ]
    )


def _not_run_json(model: ResultsModel, deliverable: Deliverable, reasons: Sequence[str]) -> str:
    document: dict[str, Any] = {
        "status": "NOT RUN",
        "deliverable": deliverable.title,
        "run_id": model.run_id,
        "generated_at": model.generated_at,
        "gate_passed": False,
        "not_run": list(reasons),
    }
    return json.dumps(document, indent=2) + "\n"


def write_deliverables(model: ResultsModel, settings: HarnessSettings) -> None:
    """Fill in every deliverable this run's writers did not write, then the index."""
    written = {path.resolve() for path in written_since(settings, model.files_before)}
    rows = []
    for deliverable in DELIVERABLES:
        path = settings.reports_dir / deliverable.name
        if deliverable.name == "hitl_approvals.log":
            path = settings.hitl_log
            status = "the HITL log" + ("" if path.exists() else " (absent: nothing logged yet)")
        elif path.resolve() in written:
            status = "written by its checks"
        else:
            reasons = why_not_run(model, deliverable)
            render = _not_run_json if path.suffix == ".json" else _not_run_markdown
            write_atomic(path, render(model, deliverable, reasons))
            status = "NOT RUN: " + "; ".join(reasons)
        rows.append(f"| {deliverable.title} | `{_shown(path, settings)}` | {status} |")
    index = [
        "# Deliverables of this run",
        "",
        f"Run {model.run_id or 'unknown'}, generated {model.generated_at}.",
        "",
        "| deliverable | file | status |",
        "|---|---|---|",
        *rows,
        "",
    ]
    write_atomic(settings.reports_dir / INDEX, "\n".join(index))


def _shown(path: Path, settings: HarnessSettings) -> str:
    try:
        return str(path.resolve().relative_to(settings.project_root.resolve()))
    except ValueError:
        return str(path)
