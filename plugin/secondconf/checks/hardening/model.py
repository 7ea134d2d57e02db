"""What the hardening run records: its requests, cases, effect claims and the run itself.

Typed data throughout; JSON only where it leaves the process (:class:`HardeningRun` is
measured once per session and shared with every xdist worker through
:meth:`HardeningRun.to_dict` / :meth:`HardeningRun.from_dict`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

import httpx

from secondconf.contract.traceids import HIGH_VOLUME_RATE, new_sampled_in_trace_id
from secondconf.engine.evidence import RequestRecord
from secondconf.target.routes import MutatingRoute

HOME: Final = "home"
OTHER: Final = "other"


def new_trace() -> str:
    """A trace id A8 must keep whatever the event (sampled in at the lowest rate)."""
    return new_sampled_in_trace_id(HIGH_VOLUME_RATE)


@dataclass
class Exchange:
    """One request of the run as a case holds it: its record (frozen evidence), which the
    case replaces when it finds what was wrong with the answer."""

    record: RequestRecord

    @property
    def sent(self) -> str:
        return self.record.sent

    @property
    def trace_id(self) -> str | None:
        return self.record.trace_id


@dataclass(frozen=True)
class EffectClaim:
    """``traces`` (each with the key its requests carried) must have caused exactly
    ``executions`` times the route's baseline of business events."""

    traces: tuple[tuple[str, str | None], ...]
    executions: int
    what: str
    tenant: str | None = None  # also: every event is tagged synthetic, for this tenant
    listed: int | None = None  # items the route's collection lists with the bodies' tokens


@dataclass
class CaseResult:
    """One rule case on one route: what was violated at once, what waits for A8."""

    rule: str
    app_id: str
    route: str
    requests: list[Exchange] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    claims: list[EffectClaim] = field(default_factory=list)
    untested: str | None = None
    not_applicable: str | None = None  # the rule has nothing to act on for this route
    notes: list[str] = field(default_factory=list)

    def violate(self, exchange: Exchange | None, why: str) -> None:
        self.violations.append(why)
        if exchange is not None:
            exchange.record = replace(exchange.record, result=why)

    @property
    def records(self) -> list[RequestRecord]:
        return [exchange.record for exchange in self.requests]

    @property
    def state(self) -> str:
        """How the case ended, in words: not applicable, untested, violated or held."""
        if self.not_applicable:
            return "not applicable: " + self.not_applicable
        if self.untested:
            return "untested: " + self.untested
        return "violated" if self.violations else "held"

    def to_dict(self) -> dict[str, Any]:
        """The case once judged (its claims are counted by then, so not kept)."""
        return {
            "rule": self.rule,
            "app_id": self.app_id,
            "route": self.route,
            "requests": [record.to_dict() for record in self.records],
            "violations": list(self.violations),
            "untested": self.untested,
            "not_applicable": self.not_applicable,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CaseResult:
        return cls(
            rule=data["rule"],
            app_id=data["app_id"],
            route=data["route"],
            requests=[Exchange(RequestRecord.from_dict(r)) for r in data["requests"]],
            violations=list(data["violations"]),
            untested=data.get("untested"),
            not_applicable=data.get("not_applicable"),
            notes=list(data.get("notes", ())),
        )


@dataclass(frozen=True)
class RequestSpec:
    """A fresh request on a route: its path (and the parameters filled into it), body,
    the token marking its body, key and trace id."""

    path: str
    body: Any
    token: str
    key: str
    trace: str
    params: Mapping[str, str] = field(default_factory=dict)


def is_success(response: httpx.Response | None) -> bool:
    return response is not None and 200 <= response.status_code < 300


@dataclass
class RouteState:
    """A covered route after the warm-up: ready (with its baseline trace) or untested."""

    route: MutatingRoute
    baseline: tuple[str, str] | None = None  # (trace, key) of the baseline request
    listed_once: int | None = None  # items one execution adds to the route's collection
    baseline_ms: float | None = None  # how long the baseline request took
    untested: str | None = None


@dataclass(frozen=True)
class RouteNote:
    """A route left out of the cases, and why (exempt from §4, or not testable)."""

    route: str  # its label: "A2 POST /v1/checkout"
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"route": self.route, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RouteNote:
        return cls(route=data["route"], reason=data["reason"])


@dataclass(frozen=True)
class AppCoverage:
    """One app's routes as the run found them: put through the cases, exempt, untested."""

    covered: tuple[str, ...] = ()  # route labels
    exempt: tuple[RouteNote, ...] = ()
    untested: tuple[RouteNote, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "covered": list(self.covered),
            "exempt": [note.to_dict() for note in self.exempt],
            "untested": [note.to_dict() for note in self.untested],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AppCoverage:
        return cls(
            covered=tuple(data["covered"]),
            exempt=tuple(RouteNote.from_dict(note) for note in data["exempt"]),
            untested=tuple(RouteNote.from_dict(note) for note in data["untested"]),
        )


@dataclass
class HardeningRun:
    """What the run found, ready to judge (one run per session)."""

    started_at: str
    ended_at: str
    env: str
    apps: dict[str, AppCoverage]
    cases: list[CaseResult]
    baselines: dict[str, dict[str, int] | None]  # route label -> business events per execution
    baseline_ms: dict[str, float] = field(default_factory=dict)  # route label -> its duration
    # POSTs a client can send on their own: no path parameter, no reference to a resource
    walkable: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # run-level (no A8, no tokens)

    def to_dict(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "env": self.env,
            "apps": {app_id: coverage.to_dict() for app_id, coverage in self.apps.items()},
            "cases": [case.to_dict() for case in self.cases],
            "baselines": self.baselines,
            "baseline_ms": self.baseline_ms,
            "walkable": self.walkable,
            "problems": self.problems,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HardeningRun:
        return cls(
            started_at=data["started_at"],
            ended_at=data["ended_at"],
            env=data["env"],
            apps={app_id: AppCoverage.from_dict(c) for app_id, c in data["apps"].items()},
            cases=[CaseResult.from_dict(case) for case in data["cases"]],
            baselines=dict(data["baselines"]),
            baseline_ms=dict(data.get("baseline_ms", {})),
            walkable=list(data.get("walkable", ())),
            problems=list(data.get("problems", ())),
        )


def canonical(body: Any) -> str:
    """Canonical JSON (sorted keys, no insignificant whitespace) for comparing bodies."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"))
