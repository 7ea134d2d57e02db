"""The record every gate run appends to the HITL log (kind ``run``).

The seed asks that the log be updated by every run, not only when someone approves: so a
human auditing it sees each run's start, end and result, the approvals it used, the
changes the harness made to the target (its ``action`` entries: faults injected, and
rolled back), and the escalations it paged. The run's own entries are those after the
log's head at the run's start (a run that shares its log with another at the same time
also counts the other's entries; the record says from which ``seq`` it counted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from secondconf.hitl.escalations import Page
from secondconf.hitl.log import ApprovalLog
from secondconf.hitl.prod_writes import PROD_WRITE_PREFIX  # an action, but no fault

ROLLBACK_SUFFIX: Final = " (rollback)"
"""How :class:`secondconf.hitl.actions.ActionLog` marks an undo."""


@dataclass(frozen=True)
class RunSummary:
    """What the controller knows of its run at the end."""

    run_id: str
    started_at: str
    ended_at: str
    result: str  # GATE PASSED | GATE FAILED | PARTIAL RUN
    checks: int
    pages: Sequence[Page] = ()
    schema_mismatches: Sequence[str] = ()
    webhook: str = "not configured"
    first_seq: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def build_record(summary: RunSummary, log: ApprovalLog) -> dict[str, Any]:
    """The run record's JSON object, from the summary and the log as the run leaves it."""
    uses = [u for u in log.uses if u.seq >= summary.first_seq]
    actions = [a for a in log.actions if a.seq >= summary.first_seq]
    prod_writes = [a for a in actions if a.what.startswith(PROD_WRITE_PREFIX)]
    changes = [a for a in actions if a not in prod_writes]
    injected = [a for a in changes if not a.what.endswith(ROLLBACK_SUFFIX)]
    rolled_back = [a for a in changes if a.what.endswith(ROLLBACK_SUFFIX)]
    return {
        "started_at": summary.started_at,
        "ended_at": summary.ended_at,
        "result": summary.result,
        "checks": summary.checks,
        "counted_from_seq": summary.first_seq,
        "approvals_used": [
            {"approval": u.approval_id[:12], "gate": u.gate, "env": u.env, "test": u.test_id}
            for u in uses
        ],
        "actions": len(actions),
        "faults_injected": [f"{a.app} {a.what}" for a in injected],
        "faults_rolled_back": [
            f"{a.app} {a.what.removesuffix(ROLLBACK_SUFFIX)}" for a in rolled_back
        ],
        "apps_left_faulted": _left_faulted(injected, rolled_back),
        "prod_writes": [f"{a.app} {a.what.removeprefix(PROD_WRITE_PREFIX)}" for a in prod_writes],
        "escalations": [p.to_dict() for p in summary.pages],
        "schema_mismatches": list(summary.schema_mismatches),
        "webhook": summary.webhook,
        **summary.extra,
    }


def _left_faulted(injected: Sequence[Any], rolled_back: Sequence[Any]) -> list[str]:
    """Apps whose last change in this run was not a rollback."""
    last: dict[str, bool] = {}
    for action in sorted([*injected, *rolled_back], key=lambda a: a.seq):
        last[action.app] = action.what.endswith(ROLLBACK_SUFFIX)
    return sorted(app for app, undone in last.items() if not undone)


def earlier_mismatches(log: ApprovalLog) -> list[list[str]]:
    """Each earlier run's ``schema_mismatches`` (what :func:`pages_for` counts)."""
    found: list[list[str]] = []
    for run in log.runs:
        mismatches = run.record.get("schema_mismatches")
        if isinstance(mismatches, list):
            found.append([str(m) for m in mismatches])
    return found
