"""The harness's markers: registration text and strict argument validation.

A marker with wrong arguments is a test error whose message gives the accepted
signature (never a silent skip), as pytest-asyncio does for ``asyncio(...)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

import pytest

from secondconf.contract.catalog import CATALOG
from secondconf.contract.platform import APP_IDS
from secondconf.hitl.log import GATES

BARE_MARKERS: dict[str, str] = {
    "second_confirmation": "a check of the release gate (all phases)",
    "liveness": "dual-source liveness of an app (phase 1)",
    "funnel_b2c": "the B2C funnel A7 -> A1 -> A5 -> A3 -> A2 -> A8",
    "funnel_b2b": "the B2B funnel A7 -> A6 -> A8",
    "idempotency": "idempotency, trace-header and tenant rules",
    "monetization": "pricing, fees, markup and revenue lineage",
    "activation": "activation and credits",
    "learning": "the Thompson-sampling bandit and its reward signal",
    "autonomy": "A3's autonomous cycles",
    "resiliency": "retries, backoff, circuit breaker and auto-heal",
    "load": "load tests (locust, in its own process)",
    "compliance": "PII minimization, COPPA, FERPA and academic integrity (contract §14)",
    "prod_safe": "allowed against prod_observe (read-only or synthetic in every respect)",
}

PHASE_SIGNATURE = "phase(n): n is the phase number, an int >= 0, e.g. @pytest.mark.phase(1)"
APP_SIGNATURE = 'app(app_id): one of A1..A8, e.g. @pytest.mark.app("A1")'
HITL_SIGNATURE = (
    f"hitl(gate=...): accepts only the keyword argument 'gate', one of {', '.join(GATES)}"
)
RULES_SIGNATURE = (
    "rules(*rule_ids): the catalogued rule ids (secondconf.contract.catalog) this check "
    'judges, e.g. @pytest.mark.rules("IDEM-07")'
)

MARKER_LINES: tuple[str, ...] = (
    *(f"{name}: {text}" for name, text in BARE_MARKERS.items()),
    PHASE_SIGNATURE,
    APP_SIGNATURE,
    f"{HITL_SIGNATURE}; skipped without a valid logged approval",
    f"{RULES_SIGNATURE}; the gate names a declared id that produced no verdict",
)


T = TypeVar("T")


class MarkerError(Exception):
    """A harness marker was given arguments it does not accept."""


@dataclass(frozen=True)
class CheckMarks:
    """What an item's harness markers say about it, once validated."""

    phase: int | None
    app: str | None
    hitl_gate: str | None
    tags: tuple[str, ...]
    rules: tuple[str, ...] = ()  # the catalogued rule ids it judges

    @property
    def is_check(self) -> bool:
        return (
            bool(self.tags)
            or self.hitl_gate is not None
            or self.phase is not None
            or bool(self.rules)
        )


def validate(marks: Iterable[pytest.Mark]) -> CheckMarks:
    """Check every harness marker's arguments; raise :class:`MarkerError` on the first bad one."""
    phase: int | None = None
    app: str | None = None
    gate: str | None = None
    tags: list[str] = []
    rules: list[str] = []
    for mark in marks:
        if mark.name in BARE_MARKERS:
            if mark.args or mark.kwargs:
                raise MarkerError(f"mark.{mark.name} takes no arguments")
            tags.append(mark.name)
        elif mark.name == "phase":
            phase = _one_positional(mark, PHASE_SIGNATURE, int)
            if phase < 0:
                raise MarkerError(f"invalid mark.phase({phase!r}); {PHASE_SIGNATURE}")
        elif mark.name == "app":
            app = _one_positional(mark, APP_SIGNATURE, str)
            if app not in APP_IDS:
                raise MarkerError(f"invalid mark.app({app!r}); {APP_SIGNATURE}")
        elif mark.name == "hitl":
            if mark.args or set(mark.kwargs) != {"gate"} or mark.kwargs["gate"] not in GATES:
                raise MarkerError(f"invalid mark.hitl{_call(mark)}; {HITL_SIGNATURE}")
            gate = mark.kwargs["gate"]
        elif mark.name == "rules":
            if mark.kwargs or not mark.args or not all(type(a) is str for a in mark.args):
                raise MarkerError(f"invalid mark.rules{_call(mark)}; {RULES_SIGNATURE}")
            rules.extend(mark.args)
    marks_found = CheckMarks(
        phase=phase,
        app=app,
        hitl_gate=gate,
        tags=tuple(dict.fromkeys(tags)),
        rules=tuple(dict.fromkeys(rules)),
    )
    for rule_id in marks_found.rules:
        _agrees_with_catalogue(rule_id, marks_found)
    return marks_found


def _agrees_with_catalogue(rule_id: str, marks: CheckMarks) -> None:
    """The test runs ``rule_id`` the way the catalogue says: under its capability
    marker, ``prod_safe`` exactly when the rule is, behind the rule's HITL gate."""
    row = CATALOG.get(rule_id)
    if row is None:
        raise MarkerError(
            f"invalid mark.rules({rule_id!r}): not a catalogued rule id; {RULES_SIGNATURE}"
        )
    if row.marker not in marks.tags:
        raise MarkerError(f"mark.rules({rule_id!r}): the catalogue runs it under mark.{row.marker}")
    marked = "prod_safe" in marks.tags
    if row.prod_safe != marked:
        raise MarkerError(
            f"mark.rules({rule_id!r}): the catalogue says it is {'' if row.prod_safe else 'not '}"
            f"prod_safe, the test is {'' if marked else 'not '}marked prod_safe"
        )
    if row.hitl_gate != marks.hitl_gate:
        raise MarkerError(
            f"mark.rules({rule_id!r}): the catalogue puts it behind HITL gate "
            f"{row.hitl_gate!r}, the test behind {marks.hitl_gate!r}"
        )


def _one_positional(mark: pytest.Mark, signature: str, kind: type[T]) -> T:
    if mark.kwargs or len(mark.args) != 1 or type(mark.args[0]) is not kind:
        raise MarkerError(f"invalid mark.{mark.name}{_call(mark)}; {signature}")
    value: T = mark.args[0]
    return value


def _call(mark: pytest.Mark) -> str:
    parts = [repr(a) for a in mark.args] + [f"{k}={v!r}" for k, v in mark.kwargs.items()]
    return f"({', '.join(parts)})"
