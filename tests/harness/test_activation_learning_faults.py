"""The activation (ACT-01..06) and learning (RL-01..04) checks against the reference
target: all PASS on the clean ecosystem, and each fault FAILs exactly its own rule.

Two fault runs, each with faults on different apps or paths that do not interfere:

* A5 ``activation_once`` off (activation fires on every call) -> ACT-01;
  A7 ``reward_rescale`` off (the reward is clipped to [0, 1]) -> RL-02 (and RL-04 still
  PASSes: clipping hides complaints, it does not stop learning);
* A5 ``credit_billed`` off (a spend debits the cost, not cost × 4) -> ACT-02;
  A7 ``cta_emitted`` off (views emit nothing) -> ACT-04;
  A7 ``bandit_uniform`` off (arms picked uniformly) -> RL-04.

The checks' own functions are driven here, as the suites drive them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from secondconf.checks.activation.judge import JUDGES
from secondconf.checks.activation.run import run_activation
from secondconf.checks.learning.learns import judge_learning, run_learning
from secondconf.checks.learning.reward import (
    judge_rescaled_reward,
    judge_reward_formula,
    run_rewards,
)
from secondconf.checks.learning.signal_path import judge_signal_path, run_signal_path
from secondconf.contract.platform import SyntheticIdentity
from secondconf.core.clock import SystemClock
from secondconf.engine.verdict import Outcome, Verdict
from secondconf.target.a8 import A8Client
from secondconf.target.client import harness_client
from secondconf.target.growth import GrowthClient
from secondconf.target.identity import fetch_token

from tests.harness.conftest import HarnessTarget

DEADLINE_S = 15.0
RULES = ("ACT-01", "ACT-02", "ACT-03", "ACT-04", "ACT-05", "ACT-06")
RULES += ("RL-01", "RL-02", "RL-03", "RL-04")


def run_checks(target: HarnessTarget) -> dict[str, Verdict]:
    """Every activation and learning verdict, by rule id, from one pass over the target."""

    async def play() -> list[Verdict]:
        clock = SystemClock()
        async with harness_client(target.map, env="embedded") as client:
            secret = target.secret("OIDC_CLIENT_SECRET")
            token = await fetch_token(client, target.map, secret, str(SyntheticIdentity.STUDENT))
            a8 = A8Client(client, target.map, target.secret("A8_TELEMETRY_KEY"))
            growth = GrowthClient(client, target.map, token)
            scenario = await run_activation(
                client, target.map, a8, token, clock, deadline_s=DEADLINE_S
            )
            rewards = await run_rewards(growth, a8, clock, deadline_s=DEADLINE_S)
            path = await run_signal_path(growth, a8, clock, deadline_s=DEADLINE_S)
            learned = await run_learning(growth, clock)
        return [
            *(judge(scenario) for judge in JUDGES),
            judge_reward_formula(rewards),
            judge_rescaled_reward(rewards),
            judge_signal_path(path),
            judge_learning(learned),
        ]

    verdicts = {v.details["rule"]: v for v in asyncio.run(play())}
    assert sorted(verdicts) == sorted(RULES)
    return verdicts


def failing(verdicts: dict[str, Verdict]) -> dict[str, Outcome]:
    return {rule: v.outcome for rule, v in verdicts.items() if v.outcome is not Outcome.PASS}


@pytest.fixture(scope="module")
def target(harness_target: HarnessTarget) -> Iterator[HarnessTarget]:
    yield harness_target
    for app_id in ("A5", "A7"):
        harness_target.set_faults(app_id, {"disabled_rules": []})


def test_clean_ecosystem_passes_every_activation_and_learning_rule(
    target: HarnessTarget,
) -> None:
    verdicts = run_checks(target)
    assert failing(verdicts) == {}, [v.details["violations"] for v in verdicts.values()]
    assert verdicts["RL-04"].details["mean_late_share"] >= 0.5


def test_double_activation_and_clipped_reward_fail_act01_and_rl02(target: HarnessTarget) -> None:
    target.set_faults("A5", {"disabled_rules": ["activation_once"]})
    target.set_faults("A7", {"disabled_rules": ["reward_rescale"]})
    try:
        verdicts = run_checks(target)
    finally:
        target.set_faults("A5", {"disabled_rules": []})
        target.set_faults("A7", {"disabled_rules": []})
    assert failing(verdicts) == {"ACT-01": Outcome.FAIL, "RL-02": Outcome.FAIL}
    assert any("activation_first_use" in v for v in verdicts["ACT-01"].details["violations"])
    assert any("0.4 / 1.4" in v for v in verdicts["RL-02"].details["violations"])


def test_wrong_decrement_missing_cta_and_uniform_bandit_fail_their_rules(
    target: HarnessTarget,
) -> None:
    target.set_faults("A5", {"disabled_rules": ["credit_billed"]})
    target.set_faults("A7", {"disabled_rules": ["cta_emitted", "bandit_uniform"]})
    try:
        verdicts = run_checks(target)
    finally:
        target.set_faults("A5", {"disabled_rules": []})
        target.set_faults("A7", {"disabled_rules": []})
    assert failing(verdicts) == {
        "ACT-02": Outcome.FAIL,
        "ACT-04": Outcome.FAIL,
        "RL-04": Outcome.FAIL,
    }
    assert any("cost × 4" in v for v in verdicts["ACT-02"].details["violations"])
    assert verdicts["RL-04"].details["mean_late_share"] < 0.5
