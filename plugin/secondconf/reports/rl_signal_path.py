"""Phase 6 deliverable: ``rl_signal_path.md`` and its learning-curve chart.

Built from the results model only (the ``learning`` checks' verdicts, whose details carry
every figure): the signal path with each hop's latency (RL-03), the reward and posterior of
every signal combination (RL-01, RL-02), the learning curve as a PNG written next to the
report and linked from it (RL-04), and the learning test's design with its measured
false-FAIL rate and power. With no learning check at all nothing is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from secondconf.checks.learning.design import (
    BETTER_RATES,
    CURVE_BUCKET,
    FALSE_FAIL_BOUND,
    OTHER_RATES,
    ROUNDS,
    SEEDS,
    THRESHOLD,
    UNIFORM_PASS_PROBABILITY,
)
from secondconf.core.files import write_atomic
from secondconf.engine.results import CheckRecord, ResultsModel
from secondconf.engine.verdict import Verdict
from secondconf.settings import HarnessSettings

RL_REPORT: Final = "rl_signal_path.md"
RL_CHART: Final = "rl_learning_curve.png"
LEARNING_TAG: Final = "learning"
ARMS: Final = 3


def learning_checks(model: ResultsModel) -> list[CheckRecord]:
    return [
        record
        for record in model.checks.values()
        if LEARNING_TAG in ((record.marks or {}).get("tags") or ())
    ]


def _by_rule(checks: Sequence[CheckRecord]) -> dict[str, Verdict]:
    return {str(v.details.get("rule")): v for record in checks for v in record.verdicts}


def write_rl_signal_path_report(model: ResultsModel, settings: HarnessSettings) -> None:
    """Write ``<reports_dir>/rl_signal_path.md`` (and the chart) atomically, if any
    learning check ran."""
    checks = learning_checks(model)
    if not checks:
        return
    verdicts = _by_rule(checks)
    learned = verdicts.get("RL-04")
    curve = learned.details.get("curve") if learned is not None else None
    chart = False
    if isinstance(curve, list) and curve:
        from secondconf.reports.learning_chart import learning_curve_chart

        title = f"RL-04: the better arm's share, {len(SEEDS)} seeds x {ROUNDS} rounds"
        png = learning_curve_chart(curve, CURVE_BUCKET, THRESHOLD, ARMS, title)
        write_atomic(settings.reports_dir / RL_CHART, png)
        chart = True
    write_atomic(settings.reports_dir / RL_REPORT, rl_report(checks, verdicts, chart=chart))


def _f(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool) or value is None:
        return "n/a" if value is None else str(value)
    if isinstance(value, int | float):
        return f"{value:.{digits}f}"
    return str(value).replace("|", "\\|")


def _pair(values: Any) -> str:
    if isinstance(values, list | tuple) and len(values) == 2:
        return f"({values[0]:g}, {values[1]:g})"
    return "n/a"


def _summary(checks: Sequence[CheckRecord], verdicts: Mapping[str, Verdict]) -> list[str]:
    lines = ["| rule | check | outcome | cases | violations |", "|---|---|---|---|---|"]
    for rule in ("RL-01", "RL-02", "RL-03", "RL-04"):
        verdict = verdicts.get(rule)
        if verdict is None:
            skipped = [r for r in checks if r.outcome == "skipped"]
            lines.append(f"| {rule} | | {'NOT RUN' if skipped else 'no verdict'} | | |")
            continue
        violations = verdict.details.get("violations") or []
        shown = "; ".join(_f(v) for v in violations[:3]) + (" …" if len(violations) > 3 else "")
        title = verdict.check.partition(" ")[2]
        lines.append(f"| {rule} | {title} | {verdict.outcome.value} | {verdict.n} | {shown} |")
    return lines


def _path(verdict: Verdict | None) -> list[str]:
    lines = ["## The signal path (RL-03)", ""]
    if verdict is None:
        return [*lines, "RL-03 did not run.", ""]
    hops = verdict.details.get("hops") or []
    lines += [
        " -> ".join(["impression", "reward", "posterior", "arm weights", "bandit_config (A8)"]),
        "",
        "Hops checked each round: " + "; ".join(str(h) for h in hops) + ". Each round views "
        "the page (the bandit picks the arm), reports a fully converted impression (reward "
        "1.0, a sure success), then reads the page's bandit. Latencies in seconds: the "
        "impression's round trip (reward and posterior are answered in it), the config read "
        "(the weights as served), bandit_config's time minus cta_impression's (app clocks), "
        "A8's receipt minus bandit_config's time, and the harness's first sighting in A8 "
        "minus the moment it sent the impression (bounded by its polling).",
        "",
        "| round | arm | propensity logged | posterior before -> after | arm weight before "
        "-> after | impression | config read | config after impression | A8 receipt | "
        "seen in A8 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, r in enumerate(verdict.details.get("rounds") or [], start=1):
        arm = r.get("arm")
        before = (r.get("weights_before") or {}).get(arm)
        after = (r.get("weights_after") or {}).get(arm)
        lines.append(
            f"| {n} | {arm} | {_f(r.get('propensity'), 4)} | {_pair(r.get('posterior_before'))}"
            f" -> {_pair(r.get('posterior_after'))} | {_f(before, 4)} -> {_f(after, 4)} | "
            f"{_f(r.get('impression_round_trip_s'))} | {_f(r.get('config_read_s'))} | "
            f"{_f(r.get('config_after_impression_s'))} | {_f(r.get('bandit_config_a8_s'))} | "
            f"{_f(r.get('bandit_config_seen_s'))} |"
        )
    return [*lines, ""]


def _rewards(verdict: Verdict | None) -> list[str]:
    lines = ["## Reward and posterior per signal combination (RL-01, RL-02)", ""]
    if verdict is None:
        return [*lines, "RL-01 did not run.", ""]
    lines += [
        "One impression per combination, on one arm of a fresh page of the check's own. "
        "Expected reward 0.05·pv + 0.3·lead + 0.65·checkout − 0.4·complaint; counted: the "
        "success probability the bandit used, expected (r + 0.4) / 1.4; the posterior of "
        "the arm around the impression.",
        "",
        "| pv | lead | checkout | complaint | expected r | A7 answered | A8 recorded | "
        "counted | expected counted | draw | posterior before -> after |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case in verdict.details.get("cases") or []:
        s = case.get("signals") or {}
        lines.append(
            f"| {s.get('page_view')} | {s.get('lead')} | {s.get('checkout')} | "
            f"{s.get('complaint')} | {_f(case.get('expected_reward'), 2)} | "
            f"{_f(case.get('reward'), 2)} | {_f(case.get('recorded_reward'), 2)} | "
            f"{_f(case.get('applied'), 4)} | {_f(case.get('expected_applied'), 4)} | "
            f"{'success' if case.get('success') is True else 'failure'} | "
            f"{_pair(case.get('posterior_before'))} -> {_pair(case.get('posterior_after'))} |"
        )
    return [*lines, ""]


def _learning(verdict: Verdict | None, chart: bool) -> list[str]:
    lines = ["## The learning curve (RL-04)", ""]
    if verdict is None:
        return [*lines, "RL-04 did not run.", ""]
    d = verdict.details
    if chart:
        lines += [f"![The better arm's share per {CURVE_BUCKET} rounds]({RL_CHART})", ""]
    curve = d.get("curve") or []
    lines += [
        "| rounds | "
        + " | ".join(f"{CURVE_BUCKET * n + 1}-{CURVE_BUCKET * (n + 1)}" for n in range(len(curve)))
        + " |",
        "|---|" + "---|" * len(curve),
        "| better arm's share | " + " | ".join(_f(v, 2) for v in curve) + " |",
        "",
        f"Mean late share {_f(d.get('mean_late_share'))} (early half "
        f"{_f(d.get('mean_early_share'))}) against the threshold {THRESHOLD}; "
        f"{len(d.get('per_seed') or [])} seeds in {_f(d.get('wall_s'), 1)} s of wall time.",
        "",
        "| seed | better arm | early share | late share |",
        "|---|---|---|---|",
    ]
    for seed in d.get("per_seed") or []:
        lines.append(
            f"| {seed.get('seed')} | {seed.get('better_arm')} | {_f(seed.get('early_share'), 2)}"
            f" | {_f(seed.get('late_share'), 2)} |"
        )
    return [*lines, ""]


def _design() -> list[str]:
    return [
        "## The learning test and its figures",
        "",
        f"{len(SEEDS)} fixed seeds, each a page of the check's own whose bandit starts at "
        f"Beta(1, 1), {ROUNDS} rounds each of view -> outcome -> impression through A7's "
        "API. The outcome comes from a seeded synthetic conversion model in which one arm "
        "(rotating with the seed) converts better: (lead, checkout, complaint) = "
        f"{BETTER_RATES} against {OTHER_RATES} for the others (mean reward 0.46 against "
        "0.0). Statistic: the better arm's share of each page's last half of picks, averaged "
        f"over the seeds; PASS when it is at least {THRESHOLD} (a uniform picker gets 1/3).",
        "",
        "Measured by simulating this exact design (tests/plugin/test_learning_design.py, "
        f"10,000 simulated tests per bandit): false-FAIL rate of a correct Thompson sampler "
        f"<= {FALSE_FAIL_BOUND:.1e} (0 failures; 95 % upper bound); power against a uniform "
        f"picker >= 1 - 3.0e-4 (0 passes), its exact pass probability "
        f"{UNIFORM_PASS_PROBABILITY:.1e}; a bandit that never updates passed 0 times.",
        "",
    ]


def rl_report(
    checks: Sequence[CheckRecord], verdicts: Mapping[str, Verdict], *, chart: bool
) -> str:
    lines = [
        "# The learning loop: signal path, reward and learning (phase 6)",
        "",
        "Contract §8 checked on pages the harness built with a bandit of their own (real "
        "pages' bandit state is never touched).",
        "",
        *_summary(checks, verdicts),
        "",
        *_path(verdicts.get("RL-03")),
        *_rewards(verdicts.get("RL-01")),
        *_learning(verdicts.get("RL-04"), chart),
        *_design(),
    ]
    return "\n".join(lines)
