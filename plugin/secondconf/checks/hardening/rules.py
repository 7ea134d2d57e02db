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

from secondconf.checks.hardening.model import CaseResult, HardeningRun
from secondconf.contract.catalog import ContractRule, rule_by_id
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Verdict, Window

# The rules whose cases the hardening run sends (checks/hardening/cases/), in its order.
RULES: Final[Mapping[str, ContractRule]] = {
    rule_id: rule_by_id(rule_id)
    for rule_id in (
        *("HDR-01", "HDR-02", "HDR-03", "HDR-04", "HDR-05"),
        *("TRC-26", "TRC-27", "TRC-28"),
        *("IDEM-07", "IDEM-09", "IDEM-10", "IDEM-11", "IDEM-12", "IDEM-15"),
        *("TEN-22", "TEN-24", "TEN-25"),
        "PRD-40",
    )
}
HARDENING_SOURCE: Final = "probe+A8"


def judge_rule(run: HardeningRun, rule_id: str) -> list[Verdict]:
    """The verdicts on ``rule_id``: one per app the rule applies to."""
    rule = RULES[rule_id]
    window = Window(start=run.started_at, end=run.ended_at)
    verdicts: list[Verdict] = []
    for app_id, coverage in sorted(run.apps.items()):
        cases = [c for c in run.cases if c.rule == rule_id and c.app_id == app_id]
        untested = [f"{note.route}: {note.reason}" for note in coverage.untested]
        applicable = [c for c in cases if not c.not_applicable]
        tested = [c for c in applicable if not c.untested]
        untested += [f"{c.route}: {c.untested}" for c in applicable if c.untested]
        if not tested and not untested:
            continue  # no covered route, or the rule applies to none of them
        verdicts.append(
            rule_verdict(
                rule,
                app_id,
                cases=len(tested),
                violations=[f"{c.route}: {v}" for c in tested for v in c.violations],
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


def _details(cases: list[CaseResult]) -> dict[str, Any]:
    return {
        "routes": {c.route: c.state for c in cases},
        "requests": [record.to_dict() for c in cases for record in c.records],
        "notes": [f"{c.route}: {note}" for c in cases for note in c.notes],
    }
