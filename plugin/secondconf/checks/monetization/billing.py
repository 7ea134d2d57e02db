"""MON-01 and MON-02 (contract §7): the target's billing against the harness's money model.

The harness bills a synthetic provider on A6 (``POST /v1/billing``) over generated amounts
and reads what the target says it charged twice: in A6's answer and in the
``provider_billed`` event A8 holds for that trace. Each must agree with
:mod:`secondconf.checks.monetization.model` to the cent.

* MON-01, the fee: every half-cent boundary of ``[50, boundary_high]`` (the gross amounts
  whose 3 % ends in exactly half a cent, where rounding modes part), then amounts that
  Hypothesis generates with a fixed seed (``derandomize``: the same amounts on every run,
  so the gate's budget and result are reproducible). A disagreement among the generated
  amounts is shrunk by Hypothesis to the minimal failing amount.
* MON-02, the markup: every billing above also carries A4 work cost (``work_cost_cents``)
  and must bill it at 4×; and A4's own ``POST /v1/work`` over every catalog kind once and
  Hypothesis-generated (kind, units), whose answer must say cost = unit cost × units and
  billed = 4 × cost. The minimal failing (kind, units) is reported the same way.

Both send charges and writes, so neither is ``prod_safe``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any, Final

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException

from secondconf.checks.monetization import model
from secondconf.checks.monetization.actors import Sent, SyntheticActor
from secondconf.contract.catalog import rule_by_id
from secondconf.core.clock import Clock
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Verdict
from secondconf.target.a8 import A8Client, StoredEvent

FEE_RULE: Final = rule_by_id("MON-01")
MARKUP_RULE: Final = rule_by_id("MON-02")
PROVIDER_APP: Final = "A6"
WORK_APP: Final = "A4"
MIN_GROSS_CENTS: Final = 50  # Stripe's USD minimum: A6 refuses less
MAX_GROSS_CENTS: Final = 10**6
MAX_WORK_COST_CENTS: Final = 10**4
MAX_UNITS: Final = 1000
POLL_S: Final = 0.5
# The costs the boundary billings carry, in turn: none, nothing, and both sides of the
# micro floor (12 × 4 = 48 < 50 < 52 = 13 × 4).
BOUNDARY_COSTS: Final = (None, 0, 1, 12, 13, 40)


@dataclass(frozen=True)
class BillingBudget:
    """How much the billing checks send: fixed, so the gate's time is too."""

    boundary_high_cents: int = 10_000  # every half-cent boundary from 50 up to here
    generated_billings: int = 40  # Hypothesis examples of (gross, work cost) on A6
    generated_work: int = 20  # Hypothesis examples of (kind, units) on A4


@dataclass(frozen=True)
class Billed:
    """One A6 billing: what was asked, and the metrics A6 answered and A8 holds."""

    gross_cents: int
    work_cost_cents: int | None
    origin: str  # "boundary", "generated" or "shrinking"
    sent: Sent
    in_a8: Mapping[str, Any] | None = None  # provider_billed's finance_metrics

    @property
    def answered(self) -> Mapping[str, Any] | None:
        metrics = self.sent.field("finance_metrics")
        return metrics if isinstance(metrics, dict) else None


@dataclass(frozen=True)
class Worked:
    """One A4 work call: what was asked and what A4 answered."""

    kind: str
    units: int
    unit_cost_cents: int
    sent: Sent


@dataclass
class BillingExploration:
    """Every case sent, and Hypothesis's minimal failing example where one was found."""

    billed: list[Billed] = field(default_factory=list)
    worked: list[Worked] = field(default_factory=list)
    minimal_fee: dict[str, Any] | None = None
    minimal_markup: dict[str, Any] | None = None
    unsent_billings: list[str] = field(default_factory=list)  # A6 cases that were refused
    unsent_work: list[str] = field(default_factory=list)  # A4 cases that were refused


class _Disagreement(Exception):
    """A case where the target and the model disagree (what Hypothesis shrinks)."""

    def __init__(self, case: Mapping[str, Any], problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.case = dict(case)
        self.problems = list(problems)


def fee_problems(metrics: Mapping[str, Any] | None, gross_cents: int) -> list[str]:
    """How ``metrics`` (a ``finance_metrics`` object) disagrees with the model's fee."""
    if metrics is None:
        return ["no finance_metrics"]
    fee = model.fee_cents(gross_cents)
    expected = {
        "currency": model.CURRENCY,
        "gross_cents": gross_cents,
        "fee_cents": fee,
        "net_cents": gross_cents - fee,
    }
    problems = [
        f"{name} {metrics.get(name)!r}, the model says {value!r}"
        for name, value in expected.items()
        if metrics.get(name) != value
    ]
    if _decimal(metrics.get("fee_rate")) != model.PROVIDER_FEE_RATE:
        problems.append(f"fee_rate {metrics.get('fee_rate')!r}, the model says '0.03'")
    return problems


def markup_problems(metrics: Mapping[str, Any] | None, cost_cents: int) -> list[str]:
    """How ``metrics`` disagrees with the model's 4× markup on ``cost_cents``."""
    if metrics is None:
        return ["no finance_metrics"]
    expected = {
        "cost_cents": cost_cents,
        "markup": model.WORK_MARKUP,
        "billed_cents": model.billed_cents(cost_cents),
    }
    return [
        f"{name} {metrics.get(name)!r}, the model says {value!r}"
        for name, value in expected.items()
        if metrics.get(name) != value
    ]


def _decimal(value: Any) -> Decimal | None:
    if not isinstance(value, str):
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


def _search(
    strategy: st.SearchStrategy[Any], examples: int, check: Callable[[Any], None]
) -> dict[str, Any] | None:
    """Run ``check`` on ``examples`` Hypothesis-generated values (derandomized) and return
    the minimal failing case, shrunk, or ``None`` when every case held."""

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
    )
    @given(strategy)
    def holds(value: Any) -> None:
        check(value)

    try:
        holds()
    except _Disagreement as found:
        return {**found.case, "problems": found.problems}
    except HypothesisException as error:  # e.g. a disagreement that did not reproduce
        return {"problems": [f"Hypothesis could not settle a minimal case: {error}"]}
    return None


class BillingDriver:
    """Sends the billing cases as the synthetic provider (A6) and student (A4)."""

    def __init__(self, provider: SyntheticActor, student: SyntheticActor) -> None:
        self.provider = provider
        self.student = student
        self.exploration = BillingExploration()
        self._billed: dict[tuple[int, int | None], Billed] = {}

    def register(self) -> str | None:
        """The provider registered on A6 (201, or 200 when it already was); a problem else."""
        sent = self.provider.post(PROVIDER_APP, "/v1/providers", {"display_name": "QA money"})
        return None if sent.status in (200, 201) else sent.outcome()

    def bill(self, gross: int, cost: int | None, origin: str) -> Billed | None:
        """One billing (each (gross, cost) once: Hypothesis replays cost no charge)."""
        known = self._billed.get((gross, cost))
        if known is not None:
            return known
        body: dict[str, Any] = {"gross_cents": gross}
        if cost is not None:
            body["work_cost_cents"] = cost
        sent = self.provider.post(PROVIDER_APP, "/v1/billing", body)
        if sent.status != 201:
            self.exploration.unsent_billings.append(f"gross {gross}: {sent.outcome()}")
            return None
        billed = Billed(gross, cost, origin, sent)
        self._billed[(gross, cost)] = billed
        self.exploration.billed.append(billed)
        return billed

    def catalog(self) -> dict[str, int]:
        """A4's work kinds and unit costs (``GET /v1/catalog``, a harness extension)."""
        sent = self.student.get(WORK_APP, "/v1/catalog")
        kinds = sent.field("kinds")
        if sent.status != 200 or not isinstance(kinds, dict):
            self.exploration.unsent_work.append(f"A4 catalog: {sent.outcome()}")
            return {}
        return {
            str(kind): entry["unit_cost_cents"]
            for kind, entry in kinds.items()
            if isinstance(entry, dict) and isinstance(entry.get("unit_cost_cents"), int)
        }

    def work(self, kind: str, units: int, unit_cost: int) -> Worked | None:
        sent = self.student.post(WORK_APP, "/v1/work", {"kind": kind, "units": units})
        if sent.status != 201:
            self.exploration.unsent_work.append(f"A4 work {kind} x {units}: {sent.outcome()}")
            return None
        worked = Worked(kind, units, unit_cost, sent)
        self.exploration.worked.append(worked)
        return worked

    def explore(self, budget: BillingBudget) -> BillingExploration:
        """Every case of both checks, with the minimal failing examples."""
        boundaries = model.half_cent_boundaries(MIN_GROSS_CENTS, budget.boundary_high_cents)
        for i, gross in enumerate(boundaries):
            self.bill(gross, BOUNDARY_COSTS[i % len(BOUNDARY_COSTS)], "boundary")

        def fee_holds(case: tuple[int, int | None]) -> None:
            gross, cost = case
            billed = self.bill(gross, cost, "generated")
            problems = [] if billed is None else fee_problems(billed.answered, gross)
            if problems:
                raise _Disagreement({"gross_cents": gross, "work_cost_cents": cost}, problems)

        pairs = st.tuples(
            st.integers(MIN_GROSS_CENTS, MAX_GROSS_CENTS),
            st.none() | st.integers(0, MAX_WORK_COST_CENTS),
        )
        self.exploration.minimal_fee = _search(pairs, budget.generated_billings, fee_holds)
        self.exploration.minimal_markup = self._explore_work(budget)
        if self.exploration.minimal_markup is None:
            self.exploration.minimal_markup = self._shrink_a6_markup()
        return self.exploration

    def _explore_work(self, budget: BillingBudget) -> dict[str, Any] | None:
        catalog = self.catalog()
        if not catalog:
            return None
        for kind, unit_cost in sorted(catalog.items()):
            self.work(kind, 1, unit_cost)

        def markup_holds(case: tuple[str, int]) -> None:
            kind, units = case
            worked = self.work(kind, units, catalog[kind])
            problems = [] if worked is None else work_problems(worked)
            if problems:
                raise _Disagreement({"app": WORK_APP, "kind": kind, "units": units}, problems)

        work = st.tuples(st.sampled_from(sorted(catalog)), st.integers(1, MAX_UNITS))
        return _search(work, budget.generated_work, markup_holds)

    def _shrink_a6_markup(self) -> dict[str, Any] | None:
        """Only when an A6 billing got its markup wrong: Hypothesis shrinks the work cost
        (the gross fixed at the minimum), so a clean run sends nothing more."""
        if not any(
            markup_problems(b.answered, b.work_cost_cents)
            for b in self.exploration.billed
            if b.work_cost_cents is not None
        ):
            return None

        def a6_markup_holds(cost: int) -> None:
            billed = self.bill(MIN_GROSS_CENTS, cost, "shrinking")
            problems = [] if billed is None else markup_problems(billed.answered, cost)
            if problems:
                raise _Disagreement(
                    {"app": PROVIDER_APP, "gross_cents": MIN_GROSS_CENTS, "work_cost_cents": cost},
                    problems,
                )

        return _search(st.integers(0, MAX_WORK_COST_CENTS), 30, a6_markup_holds)


def work_problems(worked: Worked) -> list[str]:
    """How A4's answer disagrees with cost = unit cost × units, billed = 4 × cost."""
    cost = worked.unit_cost_cents * worked.units
    answered = worked.sent.body if isinstance(worked.sent.body, dict) else None
    return markup_problems(answered, cost)


async def billed_events(
    a8: A8Client,
    traces: Iterable[str],
    since: datetime,
    clock: Clock,
    deadline_s: float,
) -> dict[str, StoredEvent]:
    """The ``provider_billed`` event A8 holds for each trace, waiting up to ``deadline_s``
    for all of them (a trace still missing then is simply absent from the answer)."""
    wanted = set(traces)
    found: dict[str, StoredEvent] = {}
    started = clock.monotonic()
    while True:
        for event in await a8.events(event="provider_billed", app_id=PROVIDER_APP, since=since):
            if event.trace_id in wanted:
                found[event.trace_id] = event
        if wanted <= set(found) or clock.monotonic() - started >= deadline_s:
            return found
        await asyncio.sleep(POLL_S)


def with_a8_metrics(
    exploration: BillingExploration, events: Mapping[str, StoredEvent]
) -> BillingExploration:
    """The exploration with each billing's ``provider_billed`` metrics from A8 attached."""
    billed = []
    for case in exploration.billed:
        event = events.get(case.sent.trace_id)
        metrics = None if event is None else event.raw.get("finance_metrics")
        billed.append(
            Billed(
                case.gross_cents,
                case.work_cost_cents,
                case.origin,
                case.sent,
                metrics if isinstance(metrics, dict) else None,
            )
        )
    exploration.billed = billed
    return exploration


def _billing_row(case: Billed, problems: list[str]) -> dict[str, Any]:
    answered = case.answered or {}
    held = case.in_a8 or {}
    return {
        "origin": case.origin,
        "gross_cents": case.gross_cents,
        "work_cost_cents": case.work_cost_cents,
        "expected_fee_cents": model.fee_cents(case.gross_cents),
        "answered_fee_cents": answered.get("fee_cents"),
        "a8_fee_cents": held.get("fee_cents"),
        "expected_billed_cents": None
        if case.work_cost_cents is None
        else model.billed_cents(case.work_cost_cents),
        "answered_billed_cents": answered.get("billed_cents"),
        "a8_billed_cents": held.get("billed_cents"),
        "half_cent": model.is_half_cent_boundary(case.gross_cents),
        "trace_id": case.sent.trace_id,
        "problems": problems,
    }


def _both_sources(
    case: Billed, judge: Callable[[Mapping[str, Any] | None], list[str]]
) -> list[str]:
    """``judge`` on A6's answer and on A8's event; each problem says where it was seen."""
    if case.in_a8 is None:
        seen_in_a8 = ["A8 holds no provider_billed for this trace"]
    else:
        seen_in_a8 = [f"in A8: {p}" for p in judge(case.in_a8)]
    return [f"in A6's answer: {p}" for p in judge(case.answered)] + seen_in_a8


def judge_fee(exploration: BillingExploration, budget: BillingBudget) -> Verdict:
    rows: list[dict[str, Any]] = []
    violations: list[str] = []
    for case in exploration.billed:
        problems = _both_sources(case, partial(fee_problems, gross_cents=case.gross_cents))
        rows.append(_billing_row(case, problems))
        if problems:
            violations.append(f"gross {case.gross_cents}: {'; '.join(problems)}")
    return rule_verdict(
        FEE_RULE,
        PROVIDER_APP,
        cases=len(exploration.billed),
        violations=violations,
        untested=exploration.unsent_billings,
        source="probe+A8",
        details={
            "rule_text": "fee_cents = round_half_up(gross_cents x 0.03); net = gross - fee",
            "cases_table": rows,
            "boundaries": model.half_cent_boundaries(MIN_GROSS_CENTS, budget.boundary_high_cents),
            "minimal_failing_example": exploration.minimal_fee,
            "hypothesis": {
                "derandomize": True,
                "max_examples": budget.generated_billings,
                "gross_range": [MIN_GROSS_CENTS, MAX_GROSS_CENTS],
            },
        },
    )


def judge_markup(exploration: BillingExploration, budget: BillingBudget) -> Verdict:
    rows: list[dict[str, Any]] = []
    violations: list[str] = []
    for case in exploration.billed:
        cost = case.work_cost_cents
        if cost is None:
            continue
        problems = _both_sources(case, partial(markup_problems, cost_cents=cost))
        rows.append({"app": PROVIDER_APP} | _billing_row(case, problems))
        if problems:
            violations.append(f"A6 work cost {cost}: {'; '.join(problems)}")
    for worked in exploration.worked:
        problems = work_problems(worked)
        cost = worked.unit_cost_cents * worked.units
        answered = worked.sent.body if isinstance(worked.sent.body, dict) else {}
        rows.append(
            {
                "app": WORK_APP,
                "kind": worked.kind,
                "units": worked.units,
                "work_cost_cents": cost,
                "expected_billed_cents": model.billed_cents(cost),
                "answered_billed_cents": answered.get("billed_cents"),
                "trace_id": worked.sent.trace_id,
                "problems": problems,
            }
        )
        if problems:
            violations.append(f"A4 {worked.kind} x {worked.units}: {'; '.join(problems)}")
    return rule_verdict(
        MARKUP_RULE,
        f"{WORK_APP}+{PROVIDER_APP}",
        cases=len(rows),
        violations=violations,
        untested=[*exploration.unsent_billings, *exploration.unsent_work],
        source="probe+A8",
        details={
            "rule_text": "billed_cents = cost_cents x 4 (A4 work, and A4 work billed by A6)",
            "cases_table": rows,
            "minimal_failing_example": exploration.minimal_markup,
            "hypothesis": {"derandomize": True, "max_examples": budget.generated_work},
        },
    )
