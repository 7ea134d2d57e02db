"""Verdicts for the contract's exhaustive rules (headers, idempotency, tenants, OIDC, …).

A rule is not a rate: every case it covers must hold. So its verdict is PASS when at least
one case was exercised and none violated the rule, FAIL (``CHECK_FAILED``) naming each
violation, and INCONCLUSIVE (``NO_DATA``) when nothing could be exercised: a rule that
saw no case has not been confirmed, and INCONCLUSIVE fails the gate. Cases that could not
be exercised (a route without an example, a path parameter with no way to create its
resource) are listed as ``untested`` with the reason, never counted as passed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from secondconf.contract.catalog import ContractRule
from secondconf.engine.verdict import Outcome, Reason, Verdict, Window

RULE_METHOD: Final = "exhaustive"


def rule_verdict(
    rule: ContractRule,
    subject: str,
    *,
    cases: int,
    violations: Sequence[str],
    untested: Sequence[str] = (),
    source: str = "probe",
    window: Window | None = None,
    details: Mapping[str, Any] | None = None,
) -> Verdict:
    """The verdict on ``rule`` for ``subject`` (an app, a route, ``A1`` …) from its cases."""
    if violations:
        outcome, reason = Outcome.FAIL, Reason.CHECK_FAILED
    elif cases > 0:
        outcome, reason = Outcome.PASS, Reason.CHECK_PASSED
    else:
        outcome, reason = Outcome.INCONCLUSIVE, Reason.NO_DATA
    return Verdict(
        check=rule.check,
        source=source,
        subject=subject,
        outcome=outcome,
        reason=reason,
        threshold=0.0,
        estimate=(len(violations) / cases) if cases else None,
        lower=None,
        upper=None,
        method=RULE_METHOD,
        alpha=0.0,
        n=cases,
        k=len(violations),
        window=window or Window(),
        details={
            "rule": rule.rule_id,
            "contract": rule.contract,
            **(details or {}),
            "violations": list(violations),
            "untested": list(untested),
        },
    )
