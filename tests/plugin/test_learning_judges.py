"""The learning verdicts (RL-01, RL-02, RL-04) from hand-built runs, and the report they
feed (``rl_signal_path.md`` with its chart)."""

from __future__ import annotations

from pathlib import Path

from secondconf.checks.learning.design import ROUNDS, SEEDS, SeedRun
from secondconf.checks.learning.learns import LearningRun, judge_learning
from secondconf.checks.learning.reward import (
    RewardCase,
    RewardRun,
    combinations,
    expected_reward,
    expected_success,
    judge_rescaled_reward,
    judge_reward_formula,
)
from secondconf.engine.results import CheckRecord, ResultsModel
from secondconf.engine.verdict import Outcome
from secondconf.reports.rl_signal_path import RL_CHART, RL_REPORT, write_rl_signal_path_report
from secondconf.target.growth import BanditState

from tests.plugin.pytester_helpers import settings_under

ARM = "book_a_demo"


def state(alpha: float, beta: float) -> BanditState:
    return BanditState({ARM: 0.5, "other": 0.5}, 0.5, {ARM: (alpha, beta), "other": (1.0, 1.0)})


def reward_run(*, clip: bool = False, off_by: float = 0.0) -> RewardRun:
    """16 impressions as a correct bandit (or a clipping one) answers them; every draw a
    failure, so each posterior gains one beta."""
    cases = []
    for n, signals in enumerate(combinations()):
        r = expected_reward(signals)
        applied = min(1.0, max(0.0, r)) if clip else expected_success(signals)
        answer = {"reward": r + off_by, "applied": applied, "success": False}
        before, after = state(1.0, 1.0 + n), state(1.0, 2.0 + n)
        cases.append(RewardCase(signals, f"{n:032x}", ARM, answer, before, after, r))
    return RewardRun("pg_1", tuple(cases))


def test_the_reward_formula_passes_exact_rewards_and_fails_a_wrong_one() -> None:
    assert judge_reward_formula(reward_run()).outcome is Outcome.PASS
    wrong = judge_reward_formula(reward_run(off_by=0.01))
    assert wrong.outcome is Outcome.FAIL
    assert "A7 answered reward" in wrong.details["violations"][0]


def test_a_clipping_bandit_fails_rl02_by_the_complaint_it_hides() -> None:
    assert judge_rescaled_reward(reward_run()).outcome is Outcome.PASS
    clipped = judge_rescaled_reward(reward_run(clip=True))
    assert clipped.outcome is Outcome.FAIL
    assert any("not 0.4 / 1.4" in v for v in clipped.details["violations"])


def seed_runs(better_every: int) -> tuple[SeedRun, ...]:
    """Pages whose late picks are the better arm once in ``better_every`` rounds."""
    picks = tuple("a" if n % better_every == 0 else "b" for n in range(ROUNDS))
    return tuple(SeedRun(seed, "a", picks) for seed in SEEDS)


def test_rl04_passes_a_learner_and_fails_a_uniform_share() -> None:
    assert judge_learning(LearningRun(seed_runs(1), 1.0)).outcome is Outcome.PASS
    uniform = judge_learning(LearningRun(seed_runs(3), 1.0))
    assert uniform.outcome is Outcome.FAIL
    assert uniform.details["mean_late_share"] < 0.5
    assert judge_learning(LearningRun((), 1.0, ("A7 unreachable",))).outcome is (
        Outcome.INCONCLUSIVE
    )


def test_the_report_links_a_chart_written_beside_it(tmp_path: Path) -> None:
    verdicts = [
        judge_reward_formula(reward_run()),
        judge_rescaled_reward(reward_run(clip=True)),
        judge_learning(LearningRun(seed_runs(1), 12.5)),
    ]
    record = CheckRecord(
        "suites/test_learning.py::t", {"tags": ["learning"], "phase": 6}, verdicts=verdicts
    )
    settings = settings_under(tmp_path)
    write_rl_signal_path_report(ResultsModel(checks={record.nodeid: record}), settings)
    report = (settings.reports_dir / RL_REPORT).read_text()
    assert f"]({RL_CHART})" in report
    assert (settings.reports_dir / RL_CHART).read_bytes().startswith(b"\x89PNG")
    assert "| RL-02 |" in report
    assert "FAIL" in report
    assert "RL-03 did not run." in report


def test_no_learning_check_writes_nothing(tmp_path: Path) -> None:
    settings = settings_under(tmp_path)
    write_rl_signal_path_report(ResultsModel(), settings)
    assert not (settings.reports_dir / RL_REPORT).exists()
