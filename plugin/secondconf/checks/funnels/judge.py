"""The B2C verdicts (B2C-01 … B2C-13) from one :class:`FunnelRun`.

Rates count first attempts only and are judged by the two-sided Wilson 95 % interval: PASS
when its upper limit on the failure rate is below 10 % (the success rate's lower limit above
90 %; at zero failures that needs n >= 35). A journey succeeds when every step answered as
the contract says and A8's funnel-status tile showed each step within the deadline. The
exhaustive checks (tiles, money, the five fixes, cleanup) PASS only when every case held.
A named run (prod_observe) judges its two journeys one by one: no rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Final

from secondconf.checks.funnels.diagnosis import FIXES, findings
from secondconf.checks.funnels.model import STEPS, FunnelRun, Journey
from secondconf.checks.funnels.tiles import revenue_totals
from secondconf.contract.catalog import ContractRule, rule_by_id
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Verdict, judge_rate
from secondconf.target.map import BrowserLogin

SIGNUP_THRESHOLD: Final = 0.10  # failure rate: success >= 90 %
CONFIDENCE: Final = 0.95
SOURCE: Final = "browser"


def rule(rule_id: str) -> ContractRule:
    return rule_by_id(rule_id)


def journey_passed(journey: Journey) -> bool:
    return journey.ok and all(v is not None for v in journey.tile_latency_s.values())


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q`` quantile (``None`` for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered), -(-int(q * 100 * len(ordered)) // 100)) - 1)]


def latency_summary(values: Sequence[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50_s": percentile(values, 0.50),
        "p95_s": percentile(values, 0.95),
        "max_s": max(values) if values else None,
    }


def needed_fixes(journey: Journey, failing_rules: set[str]) -> list[str]:
    """The fixes a failing journey points at: its failing step's diagnosis checks."""
    step = journey.first_failed_step
    by_step = {
        "b2c.signup": ("B2C-08", "B2C-09", "B2C-10"),
        "b2c.activation": ("B2C-10", "B2C-08", "B2C-09"),
        "b2c.attribution": ("B2C-11",),
    }
    candidates = by_step.get(step or "", ())
    named = [f"{r}: {FIXES[r]}" for r in candidates if r in failing_rules]
    if not journey_passed(journey) and not named and "B2C-07" in failing_rules:
        named.append(f"B2C-07: {FIXES['B2C-07']}")
    return named


def _rate(rule_id: str, failures: int, n: int, subject: str, details: dict[str, Any]) -> Verdict:
    row = rule(rule_id)
    verdict = judge_rate(
        check=row.check,
        source=SOURCE,
        failures=failures,
        n=n,
        threshold=SIGNUP_THRESHOLD,
        method="wilson",
        confidence=CONFIDENCE,
        subject=subject,
    )
    success_lower = None if verdict.upper is None else 1 - verdict.upper
    return replace(
        verdict,
        details={
            **verdict.details,
            "rule": rule_id,
            "contract": row.contract,
            "success_rate": None if n == 0 else (n - failures) / n,
            "success_lower_bound": success_lower,
            **details,
        },
    )


def journey_lines(journeys: Sequence[Journey], failing_rules: set[str]) -> list[str]:
    lines = []
    for journey in journeys:
        if journey_passed(journey):
            continue
        step = journey.first_failed_step
        if step is not None:
            result = journey.step(step)
            what = f"{step} failed: {result.detail if result else journey.error or 'not reached'}"
        else:
            unseen = [s for s, v in journey.tile_latency_s.items() if v is None]
            what = f"not on A8's tile within the deadline: {', '.join(unseen)}"
        fixes = needed_fixes(journey, failing_rules)
        lines.append(
            f"journey {journey.index} ({journey.username}): {what}"
            + (f" -> needs {'; '.join(fixes)}" if fixes else "")
        )
    return lines


def judge_funnel(run: FunnelRun, login: BrowserLogin | None) -> list[Verdict]:
    """Every B2C verdict of a rate run, in rule order (B2C-13 is :func:`judge_named`)."""
    firsts = run.first_attempts
    diagnosed = findings(run, login)
    failing = {f.rule_id for f in diagnosed if f.violations}
    n = len(firsts)
    failures = sum(not journey_passed(j) for j in firsts)
    verdicts = [
        _rate(
            "B2C-01",
            failures,
            n,
            "B2C funnel",
            {
                "flaky": run.flaky,
                "retries": len(run.retries),
                "violations": journey_lines(firsts, failing),
                "fixes_needed": [f"{f.rule_id}: {f.fix}" for f in diagnosed if f.violations],
            },
        ),
    ]
    for step in STEPS:
        if step == "b2c.checkout":
            continue
        verdicts.append(_step_rate("B2C-02", step, firsts))
    verdicts.append(_step_rate("B2C-03", "b2c.checkout", firsts))
    verdicts.append(_tiles(run))
    verdicts.append(_exclusions(run))
    verdicts.append(_reconciliation(run))
    for finding in diagnosed:
        verdicts.append(
            rule_verdict(
                rule(finding.rule_id),
                "B2C funnel",
                cases=finding.cases,
                violations=finding.violations,
                untested=finding.untested,
                source=SOURCE,
                details={"fix": finding.fix},
            )
        )
    verdicts.append(_cleanup(run))
    return verdicts


def _step_rate(rule_id: str, step: str, firsts: Sequence[Journey]) -> Verdict:
    results = [j.step(step) for j in firsts]
    failures = sum(r is None or not r.ok for r in results)
    latencies = [r.latency_s for r in results if r is not None and r.ok and r.latency_s is not None]
    problems = [
        f"journey {j.index}: {r.detail if r else 'not reached'}"
        for j, r in zip(firsts, results, strict=True)
        if r is None or not r.ok
    ]
    return _rate(
        rule_id,
        failures,
        len(firsts),
        step,
        {"step": step, "latency": latency_summary(latencies), "violations": problems[:20]},
    )


def _tiles(run: FunnelRun) -> Verdict:
    latencies: list[float] = []
    violations: list[str] = []
    cases = 0
    for journey in run.first_attempts:
        for step, latency in journey.tile_latency_s.items():
            cases += 1
            if latency is None:
                violations.append(
                    f"journey {journey.index}: {step} not on funnel-status within "
                    f"{run.tile_deadline_s:g} s"
                )
            else:
                latencies.append(latency)
    return rule_verdict(
        rule("B2C-04"),
        "A8 funnel-status",
        cases=cases,
        violations=violations,
        source="A8",
        details={"deadline_s": run.tile_deadline_s, "latency": latency_summary(latencies)},
    )


def _exclusions(run: FunnelRun) -> Verdict:
    before = revenue_totals(run.revenue_before.get("answer") or {})
    after = revenue_totals(run.revenue_after.get("answer") or {})
    paid = [j for j in run.journeys if j.payment_intent and j.checkout_status == "succeeded"]
    by_trace = {i["trace_id"]: i for i in run.lineage}
    expected = sum(int(by_trace.get(j.trace_id, {}).get("gross_cents") or 0) for j in paid)
    violations: list[str] = [f"not measured: {p}" for p in run.problems if "revenue" in p]
    rise = after["synthetic_cents"] - before["synthetic_cents"]
    if rise != expected:
        violations.append(f"synthetic revenue rose by {rise} cents, the journeys paid {expected}")
    if (after["real_cents"], after["real_settlements"]) != (
        before["real_cents"],
        before["real_settlements"],
    ):
        violations.append(
            f"real revenue moved: {before['real_cents']} -> {after['real_cents']} cents "
            f"({before['real_settlements']} -> {after['real_settlements']} settlements)"
        )
    for journey in paid:
        item = by_trace.get(journey.trace_id)
        if item is None:
            violations.append(f"journey {journey.index}: no settlement on revenue-lineage")
        elif item.get("synthetic") is not True:
            violations.append(f"journey {journey.index}: its settlement is counted as real")
        elif item.get("problems"):
            violations.append(f"journey {journey.index}: lineage {item['problems']}")
    return rule_verdict(
        rule("B2C-05"),
        "A8 revenue-lineage",
        cases=len(paid),
        violations=violations,
        source="A8",
        details={"before": before, "after": after, "journeys_paid_cents": expected},
    )


def _reconciliation(run: FunnelRun) -> Verdict:
    paid = [j for j in run.journeys if j.payment_intent]
    untested = [] if run.payments or not paid else ["STRIPE_SECRET_KEY not set: nothing retrieved"]
    violations = [
        f"{p.payment_intent} (trace {p.trace_id}): {problem}"
        for p in run.payments
        for problem in p.problems
    ]
    return rule_verdict(
        rule("B2C-06"),
        "Stripe",
        cases=len(run.payments),
        violations=violations,
        untested=untested,
        source="stripe",
        details={"payments": [p.payment_intent for p in run.payments]},
    )


def _cleanup(run: FunnelRun) -> Verdict:
    violations = [
        f"{c.subject}: DELETE {c.delete_status}, GET {c.proof_status}"
        + (f", still owned {dict(c.remaining)}" if c.remaining else "")
        + (f" ({c.problem})" if c.problem else "")
        for c in run.cleanup
        if not c.proven
    ]
    return rule_verdict(
        rule("B2C-12"),
        "A1",
        cases=len(run.cleanup),
        violations=violations,
        source="probe",
        details={"deleted": [c.subject for c in run.cleanup if c.proven]},
    )


def judge_named(run: FunnelRun) -> Verdict:
    """B2C-13 (prod_observe): each named identity's one journey, judged alone: no rate."""
    violations = journey_lines(run.journeys, set())
    return rule_verdict(
        rule("B2C-13"),
        "B2C funnel",
        cases=len(run.journeys),
        violations=violations,
        source=SOURCE,
        details={
            "rate": None,
            "why_no_rate": "prod_observe: the two named identities, one journey each",
            "journeys": [
                {"username": j.username, "trace_id": j.trace_id, "passed": journey_passed(j)}
                for j in run.journeys
            ],
        },
    )
