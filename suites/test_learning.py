"""Phase 6, the learning loop (contract §8), on pages the checks build with a bandit of
their own (``"bandit": "own"``): real pages' bandit state is never touched.

* RL-01: the reward of every combination of page view, lead, checkout and complaint is
  ``0.05·pv + 0.3·lead + 0.65·checkout − 0.4·complaint``, in A7's answer and in A8;
* RL-02: the bandit counts it rescaled, ``(r + 0.4) / 1.4``, one observation per
  impression, so a complaint lowers the arm by the full 0.4 / 1.4 (a clipping bandit fails);
* RL-03: impression -> reward -> posterior -> arm weights -> ``bandit_config`` in A8 within
  60 s, each chosen arm's propensity logged, every hop timed;
* RL-04: over fixed seeds of a synthetic conversion model, the better arm's share rises
  (a uniform picker fails); the design and its measured error rates are in
  :mod:`secondconf.checks.learning.design` and docs/checks/learning.md.

RL-01 and RL-02 judge the same 16 impressions (played once per module). The figures
go to ``rl_signal_path.md`` with the learning curve as a chart.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import httpx
import pytest
from secondconf.checks.learning.learns import judge_learning, run_learning
from secondconf.checks.learning.reward import (
    RewardRun,
    judge_rescaled_reward,
    judge_reward_formula,
    run_rewards,
)
from secondconf.checks.learning.signal_path import judge_signal_path, run_signal_path
from secondconf.core.clock import Clock
from secondconf.engine.verdict import Verdict
from secondconf.pytest_plugin.fixtures import StudentScenario
from secondconf.settings import HarnessSettings
from secondconf.target.a8 import A8Client
from secondconf.target.deployment import Target
from secondconf.target.growth import GrowthClient
from secondconf.target.identity import AccessToken

pytestmark = [pytest.mark.second_confirmation, pytest.mark.learning, pytest.mark.phase(6)]

RecordVerdict = Callable[[Verdict], Verdict]
T = TypeVar("T")


def play(
    as_student: StudentScenario,
    target: Target,
    scenario: Callable[[GrowthClient, A8Client], Coroutine[Any, Any, T]],
) -> T:
    """Run ``scenario`` with A7 and A8 clients as the synthetic student."""

    async def with_growth(client: httpx.AsyncClient, a8: A8Client, token: AccessToken) -> T:
        return await scenario(GrowthClient(client, target.system_map, token), a8)

    return as_student("learning scenario", with_growth)


@pytest.fixture(scope="module")
def reward_run(
    as_student: StudentScenario, target: Target, settings: HarnessSettings, clock: Clock
) -> RewardRun:
    """The 16 impressions RL-01 and RL-02 judge, played once."""
    deadline_s = settings.telemetry_deadline_s
    return play(
        as_student,
        target,
        lambda growth, a8: run_rewards(growth, a8, clock, deadline_s=deadline_s),
    )


@pytest.mark.rules("RL-01")
def test_rl01_reward_formula_exact(reward_run: RewardRun, record_verdict: RecordVerdict) -> None:
    record_verdict(judge_reward_formula(reward_run))


@pytest.mark.rules("RL-02")
def test_rl02_reward_rescaled_not_clipped(
    reward_run: RewardRun, record_verdict: RecordVerdict
) -> None:
    record_verdict(judge_rescaled_reward(reward_run))


@pytest.mark.rules("RL-03")
def test_rl03_signal_path_to_a8(
    as_student: StudentScenario,
    target: Target,
    settings: HarnessSettings,
    clock: Clock,
    record_verdict: RecordVerdict,
) -> None:
    deadline_s = settings.telemetry_deadline_s
    path = play(
        as_student,
        target,
        lambda growth, a8: run_signal_path(growth, a8, clock, deadline_s=deadline_s),
    )
    record_verdict(judge_signal_path(path))


@pytest.mark.rules("RL-04")
def test_rl04_the_bandit_learns(
    as_student: StudentScenario,
    target: Target,
    clock: Clock,
    exclusive_target_load: None,
    record_verdict: RecordVerdict,
) -> None:
    learned = play(as_student, target, lambda growth, _a8: run_learning(growth, clock))
    record_verdict(judge_learning(learned))
