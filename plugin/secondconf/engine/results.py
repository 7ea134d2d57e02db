"""The results model: every check's pytest outcome and verdicts, fed from test reports.

On the controller it is built (by ``pytest_plugin.reporting``) from
``pytest_runtest_logreport`` (which xdist replays there for every worker report) and from
each worker's ``workeroutput``. Report writers read it; they never recompute statistics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from secondconf.engine.verdict import Outcome, Verdict


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
    def gate_passed(self) -> bool:
        if self.outcome == "skipped":
            return self.deliberate_skip
        return self.outcome == "passed" and all(v.outcome is Outcome.PASS for v in self.verdicts)

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
        elif not lines:
            lines.append(f"{self.outcome}: {self.failure or 'no detail'}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "marks": dict(self.marks) if self.marks is not None else None,
            "outcome": self.outcome,
            "gate_passed": self.gate_passed,
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

    def add_worker_output(self, worker_id: str, payload: Mapping[str, Any] | None) -> None:
        if payload is None:
            self.lost_workers.append(worker_id)
            return
        self.workers[worker_id] = {"library_versions": payload.get("library_versions", {})}
        self.run_info.update(payload.get("run_info", {}))
        self.hitl_uses.extend(payload.get("hitl_uses", []))

    @property
    def has_checks(self) -> bool:
        return bool(self.checks)

    def failing(self) -> list[CheckRecord]:
        return [c for c in self.checks.values() if not c.gate_passed]

    @property
    def gate_passed(self) -> bool:
        return self.has_checks and not self.failing() and not self.lost_workers

    def to_dict(self) -> dict[str, Any]:
        return {
            "generated_at": self.generated_at,
            "gate_passed": self.gate_passed,
            "checks": [c.to_dict() for c in self.checks.values()],
            "run_info": dict(self.run_info),
            "hitl_uses": list(self.hitl_uses),
            "workers": dict(self.workers),
            "lost_workers": list(self.lost_workers),
        }
