"""RL-01 and RL-02 (contract §8): the reward formula, and that it is rescaled, not clipped.

On a page of the check's own, one impression per combination of page view, lead,
checkout and complaint (16), each under a trace sampled in at 10 % so A8 keeps its
``cta_impression``; the page's bandit (weights and posteriors) is read before and after
each. RL-01 holds A7's answered reward and A8's recorded one to
``0.05·pv + 0.3·lead + 0.65·checkout − 0.4·complaint`` (computed in Decimal). RL-02 holds
the success probability the bandit counted to ``(r + 0.4) / 1.4``, each posterior to
exactly one observation, and each complaint to lowering the arm by the full 0.4 / 1.4: a
clipping bandit (``max(0, r)``) lowers it by at most 0.05 and fails.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from secondconf.contract.catalog import rule_by_id
from secondconf.contract.traceids import HIGH_VOLUME_RATE, new_sampled_in_trace_id
from secondconf.core.clock import Clock
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Verdict
from secondconf.target.a8 import A8Client, StoredEvent, TelemetryError
from secondconf.target.growth import SIGNALS, BanditState, GrowthClient, GrowthError
from secondconf.target.trace_events import wait_for_trace_events

RL01, RL02 = rule_by_id("RL-01"), rule_by_id("RL-02")
WEIGHTS: Final = {
    "page_view": Decimal("0.05"),
    "lead": Decimal("0.3"),
    "checkout": Decimal("0.65"),
    "complaint": Decimal("-0.4"),
}
REWARD_MIN: Final = Decimal("-0.4")
REWARD_SPAN: Final = Decimal("1.4")
TOLERANCE: Final = 1e-12  # floating-point summation, nothing more
COMPLAINT_DROP: Final = float(Decimal("0.4") / REWARD_SPAN)


def expected_reward(signals: Mapping[str, int]) -> float:
    """§8's reward of one impression, summed exactly."""
    return float(sum((WEIGHTS[s] * signals.get(s, 0) for s in SIGNALS), Decimal(0)))


def expected_success(signals: Mapping[str, int]) -> float:
    """The reward rescaled to [0, 1]: ``(r + 0.4) / 1.4``, exactly."""
    total = sum((WEIGHTS[s] * signals.get(s, 0) for s in SIGNALS), Decimal(0))
    return float((total - REWARD_MIN) / REWARD_SPAN)


def combinations() -> list[dict[str, int]]:
    """Every combination of the four signals (16)."""
    return [dict(zip(SIGNALS, bits, strict=True)) for bits in itertools.product((0, 1), repeat=4)]


@dataclass(frozen=True)
class RewardCase:
    """One impression: what was reported, what A7 answered, the posterior around it."""

    signals: Mapping[str, int]
    trace_id: str
    arm: str
    answer: Mapping[str, Any]
    before: BanditState
    after: BanditState
    recorded: float | None  # cta_impression data.reward in A8 (None: not held)

    def to_dict(self) -> dict[str, Any]:
        return {
            "signals": dict(self.signals),
            "trace_id": self.trace_id,
            "expected_reward": expected_reward(self.signals),
            "reward": self.answer.get("reward"),
            "recorded_reward": self.recorded,
            "expected_applied": expected_success(self.signals),
            "applied": self.answer.get("applied"),
            "success": self.answer.get("success"),
            "posterior_before": list(self.before.posteriors[self.arm]),
            "posterior_after": list(self.after.posteriors[self.arm]),
        }


@dataclass(frozen=True)
class RewardRun:
    page_id: str | None
    cases: tuple[RewardCase, ...]
    problems: tuple[str, ...] = ()


def _recorded(events: list[StoredEvent]) -> float | None:
    for event in events:
        data = event.raw.get("data")
        if event.event == "cta_impression" and isinstance(data, dict):
            value = data.get("reward")
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
    return None


async def run_rewards(
    growth: GrowthClient, a8: A8Client, clock: Clock, *, deadline_s: float
) -> RewardRun:
    """The 16 impressions on a fresh page of the check's own, and what A8 recorded."""
    try:
        page = await growth.published_page(new_sampled_in_trace_id(HIGH_VOLUME_RATE))
        state = await growth.bandit(page, new_sampled_in_trace_id(HIGH_VOLUME_RATE))
        arm = sorted(state.arm_weights)[0]
        raw: list[tuple[dict[str, int], str, dict[str, Any], BanditState, BanditState]] = []
        for signals in combinations():
            trace = new_sampled_in_trace_id(HIGH_VOLUME_RATE)
            answer = await growth.impression(page, arm, signals, trace)
            after = await growth.bandit(page, trace)
            raw.append((signals, trace, answer, state, after))
            state = after
    except GrowthError as error:
        return RewardRun(None, (), (str(error),))
    problems: tuple[str, ...] = ()
    try:
        expected = {trace: ("cta_impression",) for _, trace, *_ in raw}
        events = await wait_for_trace_events(a8, expected, clock, deadline_s)
    except TelemetryError as error:
        events, problems = {}, (str(error),)
    cases = tuple(
        RewardCase(s, t, arm, answer, before, after, _recorded(events.get(t, [])))
        for s, t, answer, before, after in raw
    )
    return RewardRun(page.page_id, cases, problems)


def _close(value: object, expected: float) -> bool:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    return abs(float(value) - expected) <= TOLERANCE


def judge_reward_formula(run: RewardRun) -> Verdict:
    """RL-01: A7's answered reward and A8's recorded one equal §8's formula."""
    violations = []
    untested = list(run.problems)
    for case in run.cases:
        want = expected_reward(case.signals)
        combo = ",".join(f"{k}={v}" for k, v in case.signals.items())
        if not _close(case.answer.get("reward"), want):
            violations.append(
                f"{combo}: A7 answered reward {case.answer.get('reward')}, not {want}"
            )
        if case.recorded is None:
            untested.append(f"{combo}: A8 holds no cta_impression with a reward")
        elif not _close(case.recorded, want):
            violations.append(f"{combo}: A8 recorded reward {case.recorded}, not {want}")
    details = {"page_id": run.page_id, "cases": [c.to_dict() for c in run.cases]}
    return rule_verdict(
        RL01, "A7", cases=len(run.cases), violations=violations, untested=untested, details=details
    )


def judge_rescaled_reward(run: RewardRun) -> Verdict:
    """RL-02: each update counts ``(r + 0.4) / 1.4`` as one observation, and a complaint
    lowers the arm's success probability by the full 0.4 / 1.4."""
    violations = []
    applied: dict[tuple[int, ...], float] = {}
    for case in run.cases:
        combo = ",".join(f"{k}={v}" for k, v in case.signals.items())
        want = expected_success(case.signals)
        got = case.answer.get("applied")
        if not _close(got, want):
            violations.append(
                f"{combo}: the bandit counted {got}, not (r + 0.4) / 1.4 = {want:.6f}"
            )
        if isinstance(got, int | float) and not isinstance(got, bool):
            applied[tuple(case.signals[s] for s in SIGNALS)] = float(got)
        (a0, b0), (a1, b1) = case.before.posteriors[case.arm], case.after.posteriors[case.arm]
        success = case.answer.get("success")
        if (a1 - a0, b1 - b0) != ((1.0, 0.0) if success is True else (0.0, 1.0)):
            violations.append(
                f"{combo}: posterior went ({a0:g}, {b0:g}) -> ({a1:g}, {b1:g}), not one "
                f"{'success' if success is True else 'failure'}"
            )
        if case.signals == {"page_view": 0, "lead": 0, "checkout": 0, "complaint": 1} and not (
            case.after.mean(case.arm) < case.before.mean(case.arm)
        ):
            violations.append("a complaint alone did not lower the arm's posterior mean")
    for key, value in applied.items():
        if key[3] == 0 and (with_complaint := applied.get((*key[:3], 1))) is not None:
            drop = value - with_complaint
            if abs(drop - COMPLAINT_DROP) > TOLERANCE:
                violations.append(
                    f"pv={key[0]},lead={key[1]},checkout={key[2]}: a complaint lowered the "
                    f"counted success by {drop:.6f}, not 0.4 / 1.4 = {COMPLAINT_DROP:.6f}"
                )
    details = {"page_id": run.page_id, "cases": [c.to_dict() for c in run.cases]}
    return rule_verdict(
        RL02,
        "A7",
        cases=len(run.cases),
        violations=violations,
        untested=list(run.problems),
        details=details,
    )
