"""RL-03 (contract §6, §8): the signal path, traced end to end with each hop timed.

On a fresh page of the check's own, :data:`ROUNDS` times: view the page (the bandit picks
an arm), report an impression of that arm that converted fully (reward 1.0, so the
Bernoulli draw is a sure success), read the page's bandit. Each round must show

1. impression -> reward: A7 answers reward 1.0;
2. reward -> posterior: the arm's posterior gains exactly one success;
3. posterior -> arm weights: the weights A7 answers are the ones it then serves, and the
   arm's weight rose (a success raises its chance of being best);
4. arm weights -> ``bandit_config`` in A8 within 60 s, its ``data`` the new weights and
   exploration rate;
5. the propensity logged with the impression (A7's answer and A8's ``cta_impression``) is
   the chosen arm's weight under the posteriors of that moment.

Hop latencies: each request's round trip, the app-side gap between ``cta_impression`` and
``bandit_config``, A8's receipt minus the event's time, and the harness's first sighting
in A8 minus the moment it sent the impression.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from secondconf.contract.catalog import rule_by_id
from secondconf.contract.traceids import HIGH_VOLUME_RATE, new_sampled_in_trace_id
from secondconf.core.clock import Clock
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Verdict
from secondconf.target.a8 import A8Client, StoredEvent, TelemetryError
from secondconf.target.growth import BanditState, GrowthClient, GrowthError
from secondconf.target.trace_events import wait_for_trace_events

RL03 = rule_by_id("RL-03")
ROUNDS: Final = 3
FULL: Final = {"page_view": 1, "lead": 1, "checkout": 1, "complaint": 0}  # reward 1.0
A8_DEADLINE_S: Final = 60.0
PROPENSITY_TOLERANCE: Final = 1e-9
HOPS: Final = (
    "impression -> reward",
    "reward -> posterior",
    "posterior -> arm weights",
    "arm weights -> bandit_config in A8",
)


@dataclass
class PathRound:
    """One view and impression, the bandit around it, and what A8 held for it."""

    trace_id: str
    arm: str
    before: BanditState
    answer: Mapping[str, Any]
    after: BanditState
    sent_at: datetime
    answered_s: float  # impression round trip
    read_s: float  # config read round trip
    events: list[StoredEvent] = field(default_factory=list)
    seen_at: datetime | None = None  # when the harness first saw bandit_config in A8

    def event(self, name: str) -> StoredEvent | None:
        return next((e for e in self.events if e.event == name), None)


@dataclass(frozen=True)
class SignalPathRun:
    page_id: str | None
    rounds: tuple[PathRound, ...]
    problems: tuple[str, ...] = ()


async def run_signal_path(
    growth: GrowthClient, a8: A8Client, clock: Clock, *, deadline_s: float
) -> SignalPathRun:
    rounds: list[PathRound] = []
    try:
        page = await growth.published_page(new_sampled_in_trace_id(HIGH_VOLUME_RATE))
        state = await growth.bandit(page, new_sampled_in_trace_id(HIGH_VOLUME_RATE))
        for _ in range(ROUNDS):
            trace = new_sampled_in_trace_id(HIGH_VOLUME_RATE)
            view = await growth.view(page, trace)
            sent_at, start = clock.now(), clock.monotonic()
            answer = await growth.impression(page, view.arm, FULL, trace)
            answered = clock.monotonic()
            after = await growth.bandit(page, trace)
            read = clock.monotonic() - answered
            rounds.append(
                PathRound(trace, view.arm, state, answer, after, sent_at, answered - start, read)
            )
            state = after
    except GrowthError as error:
        return SignalPathRun(None, tuple(rounds), (str(error),))
    problems: tuple[str, ...] = ()
    try:
        expected = {r.trace_id: ("cta_impression", "bandit_config") for r in rounds}
        held = await wait_for_trace_events(a8, expected, clock, min(deadline_s, A8_DEADLINE_S))
        seen = clock.now()
        for r in rounds:
            r.events = held.get(r.trace_id, [])
            r.seen_at = seen if r.event("bandit_config") else None
    except TelemetryError as error:
        problems = (str(error),)
    return SignalPathRun(page.page_id, tuple(rounds), problems)


def _seconds(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds()


def _data(event: StoredEvent | None) -> Mapping[str, Any]:
    data = event.raw.get("data") if event is not None else None
    return data if isinstance(data, dict) else {}


def _same_weights(a: Mapping[str, Any], b: Mapping[str, float]) -> bool:
    if not isinstance(a, dict) or set(a) != set(b):
        return False
    return all(
        isinstance(a[k], int | float) and abs(float(a[k]) - b[k]) <= PROPENSITY_TOLERANCE for k in b
    )


def round_problems(r: PathRound) -> tuple[list[str], dict[str, Any]]:
    """What breaks the path in one round, and its hop figures."""
    problems = []
    where = f"round {r.trace_id[:12]}… arm {r.arm}"
    if r.answer.get("reward") != 1.0:
        problems.append(f"{where}: reward {r.answer.get('reward')}, not 1.0")
    (a0, b0), (a1, b1) = r.before.posteriors[r.arm], r.after.posteriors[r.arm]
    if (a1 - a0, b1 - b0) != (1.0, 0.0):
        problems.append(f"{where}: posterior ({a0:g}, {b0:g}) -> ({a1:g}, {b1:g}), not +1 success")
    config = r.answer.get("config")
    served = config.get("arm_weights") if isinstance(config, dict) else None
    if not isinstance(served, dict) or not _same_weights(served, r.after.arm_weights):
        problems.append(f"{where}: the weights answered are not the weights then served")
    if not r.after.arm_weights.get(r.arm, 0.0) > r.before.arm_weights.get(r.arm, 1.0):
        problems.append(f"{where}: a success did not raise the arm's weight")
    propensity = r.before.arm_weights.get(r.arm)
    impression, config_event = r.event("cta_impression"), r.event("bandit_config")
    logged = _data(impression).get("propensity")
    for label, value in (("A7's answer", r.answer.get("propensity")), ("cta_impression", logged)):
        if not isinstance(value, int | float) or propensity is None:
            problems.append(f"{where}: no propensity in {label}")
        elif not 0.0 < float(value) <= 1.0 or abs(float(value) - propensity) > 1e-9:
            problems.append(
                f"{where}: {label} logs propensity {value}, the weight was {propensity}"
            )
    figures: dict[str, Any] = {
        "trace_id": r.trace_id,
        "arm": r.arm,
        "propensity": propensity,
        "posterior_before": [a0, b0],
        "posterior_after": [a1, b1],
        "weights_before": dict(r.before.arm_weights),
        "weights_after": dict(r.after.arm_weights),
        "impression_round_trip_s": r.answered_s,
        "config_read_s": r.read_s,
    }
    if config_event is None:
        problems.append(f"{where}: no bandit_config in A8 within the deadline")
        return problems, figures
    data = _data(config_event)
    if not _same_weights(data.get("arm_weights", {}), r.after.arm_weights) or not isinstance(
        data.get("exploration_rate"), int | float
    ):
        problems.append(f"{where}: bandit_config data is not the new weights and exploration rate")
    a8_s = _seconds(config_event.received_at, config_event.timestamp)
    seen_s = _seconds(r.seen_at, r.sent_at) if r.seen_at else None
    figures |= {
        "config_after_impression_s": (
            _seconds(config_event.timestamp, impression.timestamp) if impression else None
        ),
        "bandit_config_a8_s": a8_s,
        "bandit_config_seen_s": seen_s,
    }
    if max(a8_s, seen_s or 0.0) > A8_DEADLINE_S:
        problems.append(f"{where}: bandit_config reached A8 after {max(a8_s, seen_s or 0):.1f} s")
    return problems, figures


def judge_signal_path(run: SignalPathRun) -> Verdict:
    """RL-03 over every round (see the module docstring)."""
    violations: list[str] = []
    rounds = []
    for r in run.rounds:
        problems, figures = round_problems(r)
        violations += problems
        rounds.append(figures)
    details = {"page_id": run.page_id, "hops": list(HOPS), "rounds": rounds}
    return rule_verdict(
        RL03,
        "A7",
        cases=len(run.rounds),
        violations=violations,
        untested=list(run.problems),
        details=details,
    )
