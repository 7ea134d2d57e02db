"""ERR-01 … ERR-04 from one :class:`ErrorCorrectionRun` (pure functions, no I/O).

Each rule looks at its own property, so each fault the reference can inject fails its
own rule only: a backoff without jitter still doubles to its cap (ERR-02 passes), one
without a cap still jitters below the cap (ERR-01 passes), a breaker that never opens
leaves the delays alone.

* ERR-01, full jitter: a retry ``n`` before the cap waits ``U(0, min(cap, base·2^(n-1)))``,
  so its delay divided by that ceiling is ``U(0, 1)``: a one-sample Kolmogorov–Smirnov test
  against the uniform at α = 1e-4 (a correct target fails once in 10,000 runs; at n ≥ 30,
  a backoff without jitter has D = 1 and p ≈ 0). Retries at the cap must not pile up on
  it: fewer than 5 % exactly at the cap (the point mass of a jitter that is added and
  then capped, tenacity's ``wait_exponential_jitter``).
* ERR-02, backoff: no retry waits above its ceiling, and the longest of ≥ 30 delays of
  each retry reaches 75 % of it (under full jitter the chance that it does not is
  0.75^30 ≈ 2e-4): the envelope doubles from the base and stays at the cap.
* ERR-03, breaker: A5's events show closed → open, then open → half-open and half-open →
  closed on the probe call made after the fault was removed; the call made while open was
  refused (503) without reaching A4 (no retry of it).
* ERR-04, auto-heal: the run started with a failing first attempt per cycle completed,
  every cycle healed (A3's record and ``cycle_auto_healed`` in A8), none escalated.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, Final

from secondconf.checks.error_correction.model import ErrorCorrectionRun, RetrySample
from secondconf.contract.catalog import rule_by_id
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Verdict

SUBJECT: Final = "A5"  # A5 -> A4 is the guarded call; A3 for the heal
KS_ALPHA: Final = 1e-4
MIN_KS_SAMPLES: Final = 30
CAP_MASS_MAX: Final = 0.05
MIN_AT_CAP_SAMPLES: Final = 20
ENVELOPE_MIN: Final = 0.75
MIN_PER_ATTEMPT: Final = 30
TOLERANCE_MS: Final = 0.001  # A5 reports delays rounded to the microsecond
BREAKER_PATH: Final = (("closed", "open"), ("open", "half-open"), ("half-open", "closed"))
EVENT_OF_STATE: Final = {
    "open": "circuit_opened",
    "half-open": "circuit_half_opened",
    "closed": "circuit_closed",
}


def ks_uniform(values: Sequence[float]) -> tuple[float, float]:
    """The one-sample KS statistic and p-value of ``values`` against U(0, 1)."""
    from scipy import stats  # imported on use: loading the plugin stays light

    result = stats.kstest(list(values), "uniform")
    return float(result.statistic), float(result.pvalue)


def judge_jitter(run: ErrorCorrectionRun) -> Verdict:
    """ERR-01: full jitter before the cap, no point mass at it."""
    below = [r for r in run.retries if not r.saturated]
    at_cap = [r for r in run.retries if r.saturated]
    violations: list[str] = []
    untested: list[str] = list(run.untested) if not run.retries else []
    details: dict[str, Any] = {"alpha": KS_ALPHA, "samples": len(run.retries), "wall_s": run.wall_s}
    cases = 0
    if len(below) >= MIN_KS_SAMPLES:
        cases += 1
        normalised = [r.delay_ms / r.ceiling_ms for r in below]
        statistic, pvalue = ks_uniform(normalised)
        details["ks"] = {"statistic": statistic, "pvalue": pvalue, "n": len(normalised)}
        if pvalue < KS_ALPHA:
            violations.append(
                f"delays before the cap, divided by their ceiling, are not uniform on [0, 1]: "
                f"KS D = {statistic:.3f}, p = {pvalue:.2g} < {KS_ALPHA:g} (n = {len(below)})"
            )
    else:
        untested.append(f"{len(below)} retries before the cap; the KS test needs {MIN_KS_SAMPLES}")
    if len(at_cap) >= MIN_AT_CAP_SAMPLES:
        cases += 1
        on_cap = sum(1 for r in at_cap if abs(r.delay_ms - r.cap_ms) <= TOLERANCE_MS)
        share = on_cap / len(at_cap)
        details["at_cap"] = {"n": len(at_cap), "exactly_at_cap": on_cap, "share": share}
        if share >= CAP_MASS_MAX:
            violations.append(
                f"{on_cap} of {len(at_cap)} retries at the cap waited exactly the cap "
                f"({share:.0%} >= {CAP_MASS_MAX:.0%}): a point mass, not jitter"
            )
    else:
        untested.append(
            f"{len(at_cap)} retries at the cap; the point-mass check needs {MIN_AT_CAP_SAMPLES}"
        )
    return rule_verdict(
        rule_by_id("ERR-01"),
        SUBJECT,
        cases=cases,
        violations=violations,
        untested=untested,
        details=details,
    )


def per_attempt(retries: Sequence[RetrySample]) -> dict[int, list[RetrySample]]:
    """The samples of each retry number, in order."""
    grouped: dict[int, list[RetrySample]] = defaultdict(list)
    for sample in retries:
        grouped[sample.attempt].append(sample)
    return dict(sorted(grouped.items()))


def attempt_figures(retries: Sequence[RetrySample]) -> list[dict[str, Any]]:
    """Per retry number: n, ceiling, longest and mean delay (the report's table)."""
    rows = []
    for attempt, samples in per_attempt(retries).items():
        delays = [s.delay_ms for s in samples]
        rows.append(
            {
                "attempt": attempt,
                "n": len(samples),
                "ceiling_ms": samples[0].ceiling_ms,
                "saturated": samples[0].saturated,
                "max_ms": max(delays),
                "mean_ms": sum(delays) / len(delays),
            }
        )
    return rows


def judge_backoff(run: ErrorCorrectionRun) -> Verdict:
    """ERR-02: every delay within its ceiling, and each retry's longest delay near it."""
    violations: list[str] = []
    untested: list[str] = list(run.untested) if not run.retries else []
    figures = attempt_figures(run.retries)
    cases = 0
    for row in figures:
        cases += 1
        attempt, ceiling, top, n = row["attempt"], row["ceiling_ms"], row["max_ms"], row["n"]
        if top > ceiling + TOLERANCE_MS:
            violations.append(
                f"retry {attempt} waited {top:.3f} ms, above its ceiling "
                f"min(cap, base·2^{attempt - 1}) = {ceiling:g} ms"
            )
        elif n >= MIN_PER_ATTEMPT and top < ENVELOPE_MIN * ceiling:
            violations.append(
                f"retry {attempt}: the longest of {n} delays is {top:.3f} ms, under "
                f"{ENVELOPE_MIN:.0%} of its ceiling {ceiling:g} ms (the backoff does not grow "
                "by the factor 2)"
            )
    if run.retries and not any(row["saturated"] for row in figures):
        untested.append("no retry reached the cap: where the backoff stops is not shown")
    return rule_verdict(
        rule_by_id("ERR-02"),
        SUBJECT,
        cases=cases,
        violations=violations,
        untested=untested,
        details={"attempts": figures},
    )


def judge_breaker(run: ErrorCorrectionRun) -> Verdict:
    """ERR-03: the breaker's path through its states, each transition an event."""
    violations: list[str] = []
    untested: list[str] = []
    transitions = sorted(run.transitions, key=lambda t: t.timestamp)
    path = [(t.source, t.to) for t in transitions]
    for t in transitions:
        if t.to is None or EVENT_OF_STATE.get(t.to) != t.event or t.dependency is None:
            violations.append(
                f"{t.event} has data {{dependency: {t.dependency}, from: {t.source}, "
                f"to: {t.to}}}: the event and its data disagree or name no dependency"
            )
    probe_trace = run.probe.get("trace_id")
    position = 0
    for step in path:
        if position < len(BREAKER_PATH) and step == BREAKER_PATH[position]:
            position += 1
    if not run.transitions and not run.calls:
        untested.extend(run.untested)
    elif position < len(BREAKER_PATH):
        missing = " -> ".join(BREAKER_PATH[position])
        violations.append(
            f"after {run.calls} calls failed by A4's 503 and a probe once it was gone, A5's "
            f"breaker went {_path_text(path)}: no {missing}"
        )
    probe_steps = {(t.source, t.to) for t in transitions if t.trace_id == probe_trace}
    if position == len(BREAKER_PATH) and not set(BREAKER_PATH[1:]) <= probe_steps:
        violations.append("the breaker did not move to half-open and closed on the probe call")
    refused = run.refused
    if refused and (refused.get("status") != 503 or refused.get("retries", 0) > 0):
        violations.append(
            f"a call while the breaker should be open answered {refused.get('status')} after "
            f"{refused.get('retries', 0)} retries: it reached A4"
        )
    if run.probe and run.probe.get("status") != 201:
        violations.append(f"the probe call after the fault answered {run.probe.get('status')}")
    return rule_verdict(
        rule_by_id("ERR-03"),
        SUBJECT,
        cases=len(run.transitions) + (1 if refused else 0),
        violations=violations,
        untested=untested,
        details={
            "path": [list(step) for step in path],
            "transitions": [asdict(t) for t in transitions],
            "refused": refused,
            "probe": run.probe,
        },
    )


def _path_text(path: Sequence[tuple[str | None, str | None]]) -> str:
    if not path:
        return "nowhere (no transition event)"
    return ", ".join(f"{a} -> {b}" for a, b in path)


def judge_heal(run: ErrorCorrectionRun) -> Verdict:
    """ERR-04: every cycle of the failing-first-attempt run healed, none escalated."""
    heal = run.heal
    if heal is None:
        return rule_verdict(
            rule_by_id("ERR-04"), "A3", cases=0, violations=[], untested=run.untested
        )
    record, events = heal.record, heal.events
    violations: list[str] = []
    if record.get("state") != "completed":
        violations.append(f"the run ended {record.get('state')!r}, not completed")
    if (record.get("heals") or 0) < heal.cycles:
        violations.append(f"A3 healed {record.get('heals')} of {heal.cycles} failed cycles")
    if record.get("escalations"):
        violations.append(f"A3 escalated {record.get('escalations')} cycle(s) to a human")
    if record.get("manual_interventions"):
        violations.append("the run needed a manual intervention")
    if events.get("cycle_auto_healed", 0) < heal.cycles:
        violations.append(
            f"A8 holds {events.get('cycle_auto_healed', 0)} cycle_auto_healed of {heal.cycles}"
        )
    if events.get("cycle_failed", 0):
        violations.append(f"A8 holds {events['cycle_failed']} cycle_failed")
    return rule_verdict(
        rule_by_id("ERR-04"),
        "A3",
        cases=heal.cycles,
        violations=violations,
        details={"run": record, "events": events},
    )


def judge_error_correction(run: ErrorCorrectionRun) -> list[Verdict]:
    """The four verdicts, in rule order."""
    return [judge_jitter(run), judge_backoff(run), judge_breaker(run), judge_heal(run)]
