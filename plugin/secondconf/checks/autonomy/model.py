"""The autonomy scenario's plan and what it observed, as plain data that survives JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Final

GATE_MINUTES: Final = 200.0  # §12 / the seed: more than 200 minutes without intervention
GATE_INTERVAL_S: Final = 600.0  # a cycle every 10 minutes of A3's clock
SOAK_STEPS: Final = 20  # a soak of T runs 21 intervals of T/20 (22 cycles): longer than T


@dataclass(frozen=True)
class AutonomyPlan:
    """A run of ``cycles`` cycles ``cycle_interval_s`` apart on A3's clock; it must reach
    more than ``required_minutes`` autonomous minutes. The reset run gets its intervention
    after ``intervention_step`` steps and is read again as many steps later; a due cycle
    may take ``step_deadline_s`` of wall time to show in A3's record."""

    cycle_interval_s: float
    cycles: int
    required_minutes: float
    intervention_step: int = 3
    step_deadline_s: float = 2.0

    @classmethod
    def gate(cls) -> AutonomyPlan:
        """210 minutes of A3's clock in 21 steps of 10 minutes (22 cycles)."""
        return cls(GATE_INTERVAL_S, SOAK_STEPS + 2, GATE_MINUTES)

    @classmethod
    def soak(cls, total_s: float) -> AutonomyPlan:
        """The same shape over ``total_s`` of real time (``--autonomy-soak``)."""
        return cls(total_s / SOAK_STEPS, SOAK_STEPS + 2, total_s / 60.0)

    @property
    def run_minutes(self) -> float:
        """How long the run lasts on A3's clock: from its first cycle to its last."""
        return (self.cycles - 1) * self.cycle_interval_s / 60.0


@dataclass(frozen=True)
class Step:
    """One move of A3's time: when (harness clock) it began, A3's clock offset after it,
    and the watched run as A3 reported it once the step's cycle was due."""

    index: int
    real_at: str
    offset_s: float
    cycles_completed: int
    state: str | None


@dataclass
class AutonomyRun:
    """Everything the scenario saw; ``untested`` says what it could not do and why."""

    plan: dict[str, Any]
    virtual: bool
    started_at: str
    run_id: str | None = None
    trace_id: str | None = None
    steps: list[Step] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)  # A3's record when the run ended
    record_after_end: dict[str, Any] | None = None  # one step later
    events: list[dict[str, Any]] = field(default_factory=list)  # A8: the run's trace
    reset: dict[str, Any] = field(default_factory=dict)  # the intervention run's readings
    growth: dict[str, Any] = field(default_factory=dict)  # page_published, cta_emitted
    untested: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def autonomy_plan(self) -> AutonomyPlan:
        return AutonomyPlan(**self.plan)

    def offset_at(self, timestamp: datetime) -> float:
        """A3's clock offset in force when A3 stamped ``timestamp``: the last step that had
        begun by then on A3's clock (a step's start plus its new offset)."""
        offset = 0.0
        for step in self.steps:
            began = datetime.fromisoformat(step.real_at).timestamp() + step.offset_s
            if began <= timestamp.timestamp():
                offset = step.offset_s
        return offset

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AutonomyRun:
        return cls(**{**data, "steps": [Step(**s) for s in data.get("steps", [])]})
