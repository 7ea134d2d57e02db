"""The results model: every check's pytest outcome and verdicts, fed from test reports.

On the controller it is built (by ``pytest_plugin.reporting``) from
``pytest_runtest_logreport`` (which xdist replays there for every worker report) and from
each worker's ``workeroutput``. Report writers read it; they never recompute statistics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from secondconf.engine.selection import Selection
from secondconf.engine.verdict import Outcome, Verdict

# The skip reason of a check whose case another check of the same run covers
# (``pytest_plugin.deliberate.skip_covered_elsewhere``).
SUPERSEDED_PREFIX: Final = "superseded: "


class CheckStatus(StrEnum):
    """How a check counts in the gate: passed, not PASS, or skipped by the harness's policy."""

    PASSED = "passed"
    NOT_PASS = "not PASS"
    AWAITING_APPROVAL = "awaiting approval"  # its HITL gate has no valid approval
    NOT_PROD_SAFE = "not prod_safe"  # never run against prod_observe
    SUPERSEDED = "superseded"  # another check of the run covers its case


@dataclass
class CheckRecord:
    """One check (a pytest item with harness markers) and what its run established."""

    nodeid: str
    marks: Mapping[str, Any] | None  # None: the report lost them (a crashed worker)
    outcome: str = "passed"  # passed | failed | error | skipped | crashed
    deliberate_skip: bool = False  # skipped by the harness's own policy (HITL, prod_observe)
    skip_reason: str | None = None
    failure: str | None = None
    duration_s: float = 0.0
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def declared_rules(self) -> tuple[str, ...]:
        """The catalogued rule ids the check declares it judges (``mark.rules``)."""
        return tuple((self.marks or {}).get("rules") or ())

    @property
    def missing_rules(self) -> list[str]:
        """Declared rule ids this check produced no verdict for (none when the harness's
        policy skipped it: those are counted as such)."""
        if self.outcome == "skipped" and self.deliberate_skip:
            return []
        judged = {v.details.get("rule") for v in self.verdicts}
        return [rule_id for rule_id in self.declared_rules if rule_id not in judged]

    @property
    def gate_passed(self) -> bool:
        if self.outcome == "skipped":
            return self.deliberate_skip
        return (
            self.outcome == "passed"
            and all(v.outcome is Outcome.PASS for v in self.verdicts)
            and not self.missing_rules
        )

    def status(self, *, prod_observe: bool) -> CheckStatus:
        """How this check counts; a deliberate skip is told apart by what caused it."""
        if not self.gate_passed:
            return CheckStatus.NOT_PASS
        if self.outcome != "skipped":
            return CheckStatus.PASSED
        if (self.skip_reason or "").startswith(SUPERSEDED_PREFIX):
            return CheckStatus.SUPERSEDED
        tags = (self.marks or {}).get("tags") or ()
        if prod_observe and "prod_safe" not in tags:
            return CheckStatus.NOT_PROD_SAFE
        return CheckStatus.AWAITING_APPROVAL

    def problems(self) -> list[str]:
        """Why this check does not pass the gate, with figures where there are any."""
        if self.gate_passed:
            return []
        lines: list[str] = []
        for verdict in self.verdicts:
            if verdict.outcome is not Outcome.PASS:
                lines.append(verdict.summary())
                lines.extend(f"  - {why}" for why in verdict.details.get("violations", ())[:5])
        if self.outcome == "skipped":
            lines.insert(0, f"not run (skipped: {self.skip_reason})")
        elif not lines and self.outcome != "passed":
            lines.append(f"{self.outcome}: {self.failure or 'no detail'}")
        if self.missing_rules:
            lines.append(f"no verdict for declared rule(s): {', '.join(self.missing_rules)}")
        return lines

    def summary(self) -> dict[str, Any]:
        """How the check ran and why it does not pass: a phase report's ``checks`` entry."""
        return {
            "nodeid": self.nodeid,
            "pytest_outcome": self.outcome,
            "gate_passed": self.gate_passed,
            "skip_reason": self.skip_reason,
            "failure": self.failure,
            "not_passing": self.problems(),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "marks": dict(self.marks) if self.marks is not None else None,
            "outcome": self.outcome,
            "gate_passed": self.gate_passed,
            "missing_rules": self.missing_rules,
            "deliberate_skip": self.deliberate_skip,
            "skip_reason": self.skip_reason,
            "failure": self.failure,
            "duration_s": round(self.duration_s, 6),
            "verdicts": [v.to_dict() for v in self.verdicts],
        }


@dataclass
class ResultsModel:
    checks: dict[str, CheckRecord] = field(default_factory=dict)
    workers: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    lost_workers: list[str] = field(default_factory=list)
    run_info: dict[str, Any] = field(default_factory=dict)  # what was run, against what
    hitl_uses: list[Mapping[str, Any]] = field(default_factory=list)
    generated_at: str = ""  # stamped once per session, from the session's clock
    selection: Selection | None = None  # what the session selected (from the collector)
    run_id: str = ""  # this session's id, in the results file beside its outputs
    # The output folders' files when the run started, path -> (inode, mtime_ns, size):
    # what tells this run's outputs from older files (reports.outputs)
    files_before: Mapping[str, tuple[int, int, int]] = field(default_factory=dict)

    def add_worker_output(self, worker_id: str, payload: Mapping[str, Any] | None) -> None:
        if payload is None:
            self.lost_workers.append(worker_id)
            return
        self.workers[worker_id] = {"library_versions": payload.get("library_versions", {})}
        self.run_info.update(payload.get("run_info", {}))
        self.hitl_uses.extend(payload.get("hitl_uses", []))
        if payload.get("selection") is not None:  # every worker collects the same items
            self.selection = Selection.from_dict(payload["selection"])

    @property
    def has_checks(self) -> bool:
        return bool(self.checks)

    def failing(self) -> list[CheckRecord]:
        return [c for c in self.checks.values() if not c.gate_passed]

    def by_status(self, *, prod_observe: bool) -> dict[CheckStatus, list[CheckRecord]]:
        """The checks grouped by how they count in the gate (every status, maybe empty)."""
        grouped: dict[CheckStatus, list[CheckRecord]] = {status: [] for status in CheckStatus}
        for check in self.checks.values():
            grouped[check.status(prod_observe=prod_observe)].append(check)
        return grouped

    def rules_without_verdict(self) -> list[str]:
        """Rule ids a check declared that no check of the session gave a verdict on,
        leaving out checks the harness's policy skipped (they are counted as such)."""
        judged = {v.details.get("rule") for c in self.checks.values() for v in c.verdicts}
        return sorted({r for c in self.checks.values() for r in c.missing_rules} - judged)

    @property
    def selection_passed(self) -> bool:
        """Every check this session ran passed (whether or not that is the whole gate)."""
        return self.has_checks and not self.failing() and not self.lost_workers

    def partial_because(self) -> list[str]:
        """Why this session is not the whole gate; empty when it is."""
        if self.selection is None:
            return ["no process reported what it collected"]
        return self.selection.partial_because(self.checks)

    @property
    def whole_gate(self) -> bool:
        return not self.partial_because()

    @property
    def gate_passed(self) -> bool | None:
        """The release gate's verdict; ``None`` when the session was a partial run, whose
        passing says nothing about the release."""
        return self.selection_passed if self.whole_gate else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "generated_at": self.generated_at,
            "run_id": self.run_id,
            "whole_gate": self.whole_gate,
            "gate_passed": self.gate_passed,
            "selection_passed": self.selection_passed,
            "selection": None
            if self.selection is None
            else {**self.selection.to_dict(), "partial_because": self.partial_because()},
            "checks": [c.to_dict() for c in self.checks.values()],
            "run_info": dict(self.run_info),
            "hitl_uses": list(self.hitl_uses),
            "workers": dict(self.workers),
            "lost_workers": list(self.lost_workers),
        }
