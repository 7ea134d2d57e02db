"""What the error-correction scenario observed, as plain data that survives JSON.

One scenario (:mod:`secondconf.checks.error_correction.scenario`) produces one
:class:`ErrorCorrectionRun`; the four rules judge it (:mod:`.judge`). It is measured once
per session and shared with other xdist workers as JSON, hence ``to_dict``/``from_dict``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class RetrySample:
    """One ``retry_attempted`` as A8 holds it: retry ``attempt`` (1 = the first retry)
    waited ``delay_ms``, drawn under a backoff of ``base_ms`` doubling to ``cap_ms``."""

    trace_id: str
    attempt: int
    delay_ms: float
    base_ms: float
    cap_ms: float

    @property
    def ceiling_ms(self) -> float:
        """The contract's bound for this retry: ``min(cap, base · 2^(attempt-1))``."""
        return min(self.cap_ms, self.base_ms * 2.0 ** (self.attempt - 1))

    @property
    def saturated(self) -> bool:
        """Whether the doubling has reached the cap at this retry."""
        return self.base_ms * 2.0 ** (self.attempt - 1) >= self.cap_ms


@dataclass(frozen=True)
class Transition:
    """One circuit-breaker event: ``event`` moved ``dependency`` from ``source`` to ``to``."""

    trace_id: str
    event: str
    dependency: str | None
    source: str | None
    to: str | None
    timestamp: str
    received_at: str


@dataclass(frozen=True)
class HealRun:
    """The A3 run started with failing first attempts, as A3 and A8 reported it."""

    run_id: str | None
    trace_id: str
    cycles: int
    record: dict[str, Any]  # A3's GET /v1/runs/{id} at the end
    events: dict[str, int]  # A8: count per event name of the run's trace


@dataclass
class ErrorCorrectionRun:
    """Everything the scenario saw; ``untested`` says what it could not do and why."""

    started_at: str
    calls: int = 0  # A5 spends sent while A4 answered 503
    traces: list[str] = field(default_factory=list)  # their trace ids
    statuses: dict[str, int] = field(default_factory=dict)  # A5's answers to them
    refused: dict[str, Any] = field(default_factory=dict)  # the call made while open
    probe: dict[str, Any] = field(default_factory=dict)  # the call after the fault went
    retries: list[RetrySample] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    heal: HealRun | None = None
    untested: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ErrorCorrectionRun:
        heal = data.get("heal")
        return cls(
            **{
                **data,
                "retries": [RetrySample(**r) for r in data.get("retries", [])],
                "transitions": [Transition(**t) for t in data.get("transitions", [])],
                "heal": None if heal is None else HealRun(**heal),
            }
        )
