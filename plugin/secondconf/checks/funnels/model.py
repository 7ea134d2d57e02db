"""What a B2C funnel run observed: each journey's steps, its auth trace, its A8 tile
sightings and its payment, plus the run's revenue tiles, Stripe answers and cleanup.

Plain data with ``to_dict``/``from_dict`` (the run is measured once per session and shared
between xdist workers as JSON). Nothing here holds a secret: cookies are names and
attributes, tokens are claim names, the password is never stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Final

# The steps of contract §10's B2C journey in order, each with the event A8 shows for it.
STEPS: Final = ("b2c.landing", "b2c.signup", "b2c.activation", "b2c.attribution", "b2c.checkout")
# The steps the browser plays itself (attribution happens inside A5's callback: only A8
# shows it, so the run judges it after the browser is done).
BROWSER_STEPS: Final = tuple(step for step in STEPS if step != "b2c.attribution")
STEP_EVENTS: Final[Mapping[str, tuple[str, str]]] = {
    "b2c.landing": ("A7", "cta_impression"),
    "b2c.signup": ("A1", "identity_ok"),
    "b2c.activation": ("A5", "activation_first_use"),
    "b2c.attribution": ("A3", "conversion_attributed"),
    "b2c.checkout": ("A2", "checkout_completed"),
}


@dataclass(frozen=True)
class StepResult:
    """One step of one journey as the browser saw it. ``at`` is the harness clock's
    reading (seconds, monotonic) when the step's answer arrived; ``latency_s`` is how long
    the step took in the browser."""

    step: str
    ok: bool
    latency_s: float | None = None
    at: float | None = None
    status: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class AuthStep:
    """One auth exchange of a journey (contract §10): where, its status, the cookies it set
    (names and attributes only) and the claim names of any token the browser saw."""

    host: str
    path: str
    method: str
    status: int
    location: str | None = None  # where a redirect led: origin and path, no query
    cookies: tuple[Mapping[str, Any], ...] = ()  # {"name", "attributes": {...}}
    token_claims: tuple[str, ...] = ()


@dataclass(frozen=True)
class Journey:
    """One attempt of one synthetic user at the funnel."""

    index: int
    attempt: int  # 1: the first attempt (the only one counted); 2: its retry
    username: str
    trace_id: str
    steps: tuple[StepResult, ...] = ()
    auth: tuple[AuthStep, ...] = ()
    page_id: str | None = None
    arm: str | None = None
    payment_intent: str | None = None
    checkout_status: str | None = None  # the result page's data-status
    tile_latency_s: Mapping[str, float | None] = field(default_factory=dict)  # None: never seen
    tile_events: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    evidence: tuple[str, ...] = ()  # kept trace and screenshot paths (failing journeys)
    error: str | None = None  # why the browser could not go on, if it stopped

    @property
    def ok(self) -> bool:
        """Every step answered as the contract says (tiles are judged on their own)."""
        done = {s.step: s.ok for s in self.steps}
        return all(done.get(step, False) for step in STEPS)

    @property
    def browser_ok(self) -> bool:
        """Every step the browser plays answered as the contract says."""
        done = {s.step: s.ok for s in self.steps}
        return self.error is None and all(done.get(step, False) for step in BROWSER_STEPS)

    @property
    def first_failed_step(self) -> str | None:
        done = {s.step: s.ok for s in self.steps}
        return next((step for step in STEPS if not done.get(step, False)), None)

    def step(self, name: str) -> StepResult | None:
        return next((s for s in self.steps if s.step == name), None)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Journey:
        return cls(
            index=data["index"],
            attempt=data["attempt"],
            username=data["username"],
            trace_id=data["trace_id"],
            steps=tuple(StepResult(**s) for s in data.get("steps", ())),
            auth=tuple(
                AuthStep(
                    **{
                        **a,
                        "cookies": tuple(a["cookies"]),
                        "token_claims": tuple(a["token_claims"]),
                    }
                )
                for a in data.get("auth", ())
            ),
            page_id=data.get("page_id"),
            arm=data.get("arm"),
            payment_intent=data.get("payment_intent"),
            checkout_status=data.get("checkout_status"),
            tile_latency_s=dict(data.get("tile_latency_s") or {}),
            tile_events=dict(data.get("tile_events") or {}),
            evidence=tuple(data.get("evidence", ())),
            error=data.get("error"),
        )


@dataclass(frozen=True)
class PaymentCheck:
    """One PaymentIntent as the Stripe API answered it, against what the journey expects."""

    payment_intent: str
    trace_id: str
    amount: int | None
    currency: str | None
    status: str | None
    metadata: Mapping[str, str]
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cleanup:
    """One synthetic identity the run created, its deletion and the proof (GET -> 404)."""

    subject: str
    delete_status: int | None
    proof_status: int | None
    remaining: Mapping[str, int] = field(default_factory=dict)  # what A1 says is left
    problem: str | None = None  # why it could not be deleted or proven

    @property
    def proven(self) -> bool:
        return self.delete_status == 204 and self.proof_status == 404


@dataclass(frozen=True)
class FunnelRun:
    """One B2C phase: the journeys (first attempts and retries), the revenue tiles before
    and after, the Stripe reconciliation, the header probes and the cleanup."""

    mode: str  # "rate": n journeys of the NN namespace; "named": the named identities only
    started_at: str
    wall_time_s: float
    tile_deadline_s: float
    journeys: tuple[Journey, ...]
    revenue_before: Mapping[str, Any]
    revenue_after: Mapping[str, Any]
    lineage: tuple[Mapping[str, Any], ...]  # the revenue-lineage items of this run's traces
    payments: tuple[PaymentCheck, ...]
    header_probes: tuple[Mapping[str, Any], ...]
    cleanup: tuple[Cleanup, ...]
    problems: tuple[str, ...] = ()  # what kept a part of the run from being measured
    phases_s: Mapping[str, float] = field(default_factory=dict)  # wall time of each part

    @property
    def first_attempts(self) -> list[Journey]:
        return [j for j in self.journeys if j.attempt == 1]

    @property
    def retries(self) -> list[Journey]:
        return [j for j in self.journeys if j.attempt > 1]

    @property
    def flaky(self) -> list[int]:
        """Journeys that failed their first attempt and passed on retry (never a success)."""
        return sorted(j.index for j in self.retries if j.ok)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["journeys"] = [j.to_dict() for j in self.journeys]
        data["flaky"] = self.flaky
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FunnelRun:
        return cls(
            mode=data["mode"],
            started_at=data["started_at"],
            wall_time_s=data["wall_time_s"],
            tile_deadline_s=data["tile_deadline_s"],
            journeys=tuple(Journey.from_dict(j) for j in data["journeys"]),
            revenue_before=data["revenue_before"],
            revenue_after=data["revenue_after"],
            lineage=tuple(data["lineage"]),
            payments=tuple(
                PaymentCheck(**{**p, "problems": tuple(p["problems"])}) for p in data["payments"]
            ),
            header_probes=tuple(data["header_probes"]),
            cleanup=tuple(Cleanup(**c) for c in data["cleanup"]),
            problems=tuple(data.get("problems", ())),
            phases_s=dict(data.get("phases_s") or {}),
        )
