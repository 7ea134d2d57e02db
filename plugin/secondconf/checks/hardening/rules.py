"""The rules the hardening run checks, and their verdicts: one per rule and app.

The run (:mod:`secondconf.checks.hardening.run`) puts every covered route through every case; here
the cases of one rule are gathered app by app into a rule verdict
(:func:`secondconf.engine.rules.rule_verdict`): PASS when every route of the app that could be
exercised held, FAIL naming each route and violation, INCONCLUSIVE when none could be.
A case that does not apply to a route (IDEM-11 on an app with one route) is listed, not
counted; an app where the rule applies to no route gets no verdict for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from secondconf.checks.hardening.model import HardeningRun
from secondconf.engine.rules import ContractRule, rule_verdict
from secondconf.engine.verdict import Verdict, Window

RULES: Final[Mapping[str, ContractRule]] = {
    rule.rule_id: rule
    for rule in (
        ContractRule("HDR-01", "missing X-Idempotency-Key -> 428, no side effect", "§4"),
        ContractRule("HDR-02", "missing trace id -> 428, no side effect", "§4"),
        ContractRule("HDR-03", "both headers missing -> 428 naming both", "§4"),
        ContractRule("HDR-04", "malformed key or trace id -> 400, no side effect", "§4"),
        ContractRule("HDR-05", "GET, HEAD and OPTIONS need neither header", "§4"),
        ContractRule("TRC-26", "a valid traceparent supplies the trace id", "§4"),
        ContractRule("TRC-27", "an invalid traceparent is no trace id -> 428", "§4"),
        ContractRule("TRC-28", "conflicting trace headers -> 400", "§4"),
        ContractRule("IDEM-07", "replay: same answer, Idempotent-Replayed, one effect", "§4"),
        ContractRule("IDEM-09", "same key with a new trace id is a replay", "§4"),
        ContractRule("IDEM-10", "same key, different body -> 422, no side effect", "§4"),
        ContractRule("IDEM-11", "same key on another route is another request", "§4"),
        ContractRule("IDEM-12", "reordered JSON body is a replay", "§4"),
        ContractRule("IDEM-15", "N identical requests released together -> one effect", "§4"),
        ContractRule("TEN-22", "same key under two tenants is two requests", "§4"),
        ContractRule("TEN-24", "no valid token -> 401, stored answer not disclosed", "§2a"),
        ContractRule("TEN-25", "another tenant's resource -> 404 without its data", "§4"),
        ContractRule("PRD-40", "synthetic writes are tagged with the identity's tenant", "§5"),
    )
}
HARDENING_SOURCE: Final = "probe+A8"


def judge_rule(run: HardeningRun, rule_id: str) -> list[Verdict]:
    """The verdicts on ``rule_id``: one per app the rule applies to."""
    rule = RULES[rule_id]
    window = Window(start=run.started_at, end=run.ended_at)
    verdicts: list[Verdict] = []
    for app_id, summary in sorted(run.apps.items()):
        cases = [c for c in run.cases if c["rule"] == rule_id and c["app_id"] == app_id]
        untested = [f"{item['route']}: {item['reason']}" for item in summary["untested"]]
        applicable = [c for c in cases if not c.get("not_applicable")]
        tested = [c for c in applicable if not c.get("untested")]
        untested += [f"{c['route']}: {c['untested']}" for c in applicable if c.get("untested")]
        if not tested and not untested:
            continue  # no covered route, or the rule applies to none of them
        verdicts.append(
            rule_verdict(
                rule,
                app_id,
                cases=len(tested),
                violations=[f"{c['route']}: {v}" for c in tested for v in c["violations"]],
                untested=untested,
                source=HARDENING_SOURCE,
                window=window,
                details=_details(cases),
            )
        )
    for problem in run.problems:
        app_id = problem.partition(":")[0]
        verdicts.append(
            rule_verdict(
                rule,
                app_id,
                cases=0,
                violations=[],
                untested=[problem],
                source=HARDENING_SOURCE,
                window=window,
            )
        )
    if not verdicts:
        verdicts.append(
            rule_verdict(
                rule,
                "all apps",
                cases=0,
                violations=[],
                untested=["no app has a route this rule covers"],
                source=HARDENING_SOURCE,
                window=window,
            )
        )
    return verdicts


def _details(cases: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "routes": {
            c["route"]: (
                "not applicable: " + c["not_applicable"]
                if c.get("not_applicable")
                else "untested: " + c["untested"]
                if c.get("untested")
                else "violated"
                if c["violations"]
                else "held"
            )
            for c in cases
        },
        "requests": [{**r, "route": c["route"]} for c in cases for r in c["requests"]],
        "notes": [f"{c['route']}: {note}" for c in cases for note in c.get("notes", ())],
    }
