"""RL-04 (contract §8): the bandit learns, judged over fixed seeds (see ``design``).

Each seed drives a page of its own through A7's API: view (A7's bandit picks the arm),
draw the outcome from the seeded conversion model, report the impression. The pages run
concurrently (each page's rounds in order, since every pick depends on the rewards
before it). Impression traces are fresh random ids: A8 keeps about 10 % of them, and
nothing here reads A8.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from secondconf.checks.learning.design import (
    ROUNDS,
    SEEDS,
    THRESHOLD,
    SeedRun,
    better_arm,
    learning_curve,
    mean_late_share,
    mean_rewards,
    outcome,
)
from secondconf.contract.catalog import rule_by_id
from secondconf.contract.traceids import new_trace_id
from secondconf.core.clock import Clock
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Verdict
from secondconf.target.growth import GrowthClient, GrowthError

RL04 = rule_by_id("RL-04")


@dataclass(frozen=True)
class LearningRun:
    runs: tuple[SeedRun, ...]
    wall_s: float
    problems: tuple[str, ...] = ()


async def _one_seed(growth: GrowthClient, seed: int, rounds: int) -> SeedRun:
    page = await growth.published_page(new_trace_id())
    arms = list((await growth.bandit(page, new_trace_id())).arm_weights)
    better = better_arm(seed, arms)
    model = random.Random(seed)
    picks = []
    for _ in range(rounds):
        trace = new_trace_id()
        arm = (await growth.view(page, trace)).arm
        await growth.impression(page, arm, outcome(model, arm == better), trace)
        picks.append(arm)
    return SeedRun(seed, better, tuple(picks))


async def run_learning(
    growth: GrowthClient,
    clock: Clock,
    *,
    seeds: Sequence[int] = SEEDS,
    rounds: int = ROUNDS,
) -> LearningRun:
    start = clock.monotonic()
    try:
        runs = await asyncio.gather(*(_one_seed(growth, seed, rounds) for seed in seeds))
    except GrowthError as error:
        return LearningRun((), clock.monotonic() - start, (str(error),))
    return LearningRun(tuple(runs), clock.monotonic() - start)


def judge_learning(run: LearningRun) -> Verdict:
    """RL-04: the better arm's mean late share over the seeds is at least THRESHOLD."""
    share = mean_late_share(run.runs)
    violations = []
    if run.runs and share < THRESHOLD:
        violations.append(
            f"the better arm's share of the late picks is {share:.3f} over {len(run.runs)} "
            f"seeds, below {THRESHOLD} (a uniform picker: 1/3)"
        )
    details: dict[str, Any] = {
        "seeds": [r.seed for r in run.runs],
        "rounds": ROUNDS,
        "threshold": THRESHOLD,
        "mean_late_share": share,
        "mean_early_share": (
            sum(r.early_share() for r in run.runs) / len(run.runs) if run.runs else None
        ),
        "per_seed": [
            {
                "seed": r.seed,
                "better_arm": r.better,
                "early_share": r.early_share(),
                "late_share": r.late_share(),
            }
            for r in run.runs
        ],
        "curve": learning_curve(run.runs),
        "model_mean_rewards": dict(mean_rewards()),
        "wall_s": run.wall_s,
    }
    return rule_verdict(
        RL04,
        "A7",
        cases=len(run.runs),
        violations=violations,
        untested=list(run.problems),
        details=details,
    )
