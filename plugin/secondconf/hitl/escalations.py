"""Contract §13's escalations: which FAILs of a gate run page a human.

A catalogued rule names the escalation its FAIL pages (``ContractRule.escalates``, one of
:data:`secondconf.contract.catalog.ESCALATIONS`). At the end of a gate run every FAIL of
such a rule becomes a :class:`Page`, except ``schema_mismatch``: one mismatch is a bug to
fix, the *same* mismatch seen in more than two runs is one nobody is fixing, so it pages
only then. The count lives in the HITL log: each run record lists the mismatches its run
saw (``schema_mismatches``), and :func:`pages_for` counts the earlier runs that saw each.

This module decides; the plugin appends each page to the log as an ``escalation`` and
:mod:`secondconf.hitl.pager` posts it to an incident webhook.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from secondconf.contract.catalog import CATALOG

SCHEMA_MISMATCH: Final = "schema_mismatch"
SCHEMA_MISMATCH_PAGES_AFTER: Final = 2
"""A schema mismatch pages once it has been seen in more than this many runs (this one
included): contract §13, "the same schema mismatch seen more than twice"."""

_EXAMPLES = re.compile(r"\s*\(e\.g\. .*\)$")
_NUMBERS = re.compile(r"\b\d+\b")


@dataclass(frozen=True)
class RuleFailure:
    """A FAIL verdict of a catalogued rule in one check of the run."""

    rule_id: str
    test_id: str
    summary: str
    violations: tuple[str, ...] = ()

    @property
    def mismatches(self) -> tuple[str, ...]:
        """What makes two runs' failures "the same": each violation without its examples
        and counts (``p95_ms: absent in N of N http_request event(s)``), or the rule alone."""
        found = {
            f"{self.rule_id} " + _NUMBERS.sub("N", _EXAMPLES.sub("", v)) for v in self.violations
        }
        return tuple(sorted(found)) or (self.rule_id,)


@dataclass(frozen=True)
class Page:
    """One escalation of this run: what pages, why, and the key an incident tool dedupes on."""

    escalation: str
    rule_id: str
    test_id: str
    detail: str
    dedup_key: str
    seen_in_runs: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "escalation": self.escalation,
            "rule": self.rule_id,
            "test": self.test_id,
            "detail": self.detail,
            "dedup_key": self.dedup_key,
            "seen_in_runs": self.seen_in_runs,
        }


def rule_failures(checks: Iterable[tuple[str, Iterable[Mapping[str, Any]]]]) -> list[RuleFailure]:
    """The FAIL verdicts (as ``Verdict.to_dict`` holds them) of rules that escalate, from
    ``(test id, verdicts)`` pairs."""
    failures: list[RuleFailure] = []
    for test_id, verdicts in checks:
        for verdict in verdicts:
            details = verdict.get("details") or {}
            rule = CATALOG.get(str(details.get("rule")))
            if rule is None or rule.escalates is None or verdict.get("outcome") != "FAIL":
                continue
            violations = tuple(str(v) for v in details.get("violations") or ())
            failures.append(RuleFailure(rule.rule_id, test_id, _summary(verdict), violations))
    return failures


def _summary(verdict: Mapping[str, Any]) -> str:
    who = f"{verdict.get('subject')} " if verdict.get("subject") else ""
    return f"{who}{verdict.get('check')} {verdict.get('outcome')} ({verdict.get('reason')})"


def pages_for(
    failures: Sequence[RuleFailure], earlier_mismatches: Sequence[Sequence[str]]
) -> list[Page]:
    """The pages of this run. ``earlier_mismatches``: each earlier run's
    ``schema_mismatches`` as its run record holds them."""
    pages: list[Page] = []
    for failure in failures:
        escalation = CATALOG[failure.rule_id].escalates
        assert escalation is not None  # rule_failures keeps only rules that escalate
        if escalation != SCHEMA_MISMATCH:
            detail = f"{failure.rule_id} failed in {failure.test_id}: {failure.summary}"
            key = _dedup_key(escalation, failure.rule_id, failure.test_id)
            pages.append(Page(escalation, failure.rule_id, failure.test_id, detail, key))
            continue
        for mismatch in failure.mismatches:
            seen = 1 + sum(mismatch in run for run in earlier_mismatches)
            if seen > SCHEMA_MISMATCH_PAGES_AFTER:
                detail = f"{mismatch} (seen in {seen} runs, this one included; {failure.test_id})"
                key = _dedup_key(escalation, mismatch)
                pages.append(Page(escalation, failure.rule_id, failure.test_id, detail, key, seen))
    return pages


def schema_mismatches(failures: Sequence[RuleFailure]) -> list[str]:
    """The mismatches of this run, for its run record (counted by later runs)."""
    found = {
        m for f in failures if CATALOG[f.rule_id].escalates == SCHEMA_MISMATCH for m in f.mismatches
    }
    return sorted(found)


def _dedup_key(*parts: str) -> str:
    """The same problem gives the same key run after run, so the incident tool groups it."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]
    return f"secondconf-{parts[0]}-{digest}"
