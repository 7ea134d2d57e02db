"""Phase 3: the header, idempotency and tenant rules of contract §4 (and §5's labels),
on every covered route of every app.

The routes and their example requests come from each app's OpenAPI document; the run
that sends every case is measured once per session (:mod:`secondconf.checks.hardening.run`) and
each rule is judged app by app (:mod:`secondconf.checks.hardening.rules`). Side effects are
counted in A8, never taken from status codes alone.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from secondconf.checks.hardening.model import HardeningRun
from secondconf.checks.hardening.rules import RULES, judge_rule
from secondconf.engine.verdict import Verdict

pytestmark = [pytest.mark.second_confirmation, pytest.mark.idempotency, pytest.mark.phase(3)]


@pytest.mark.parametrize("rule_id", [pytest.param(r, marks=pytest.mark.rules(r)) for r in RULES])
def test_contract_rule(
    rule_id: str,
    hardening_run: HardeningRun,
    record_verdict: Callable[[Verdict], Verdict],
) -> None:
    for verdict in judge_rule(hardening_run, rule_id):
        record_verdict(verdict)
