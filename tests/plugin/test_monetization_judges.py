"""The money checks' logic without a target: billing against fake A6/A4 answers, the
Hypothesis search (reproducible, shrinking to the minimal failing amount), the lineage
judges, and the two reports (including a check that did not run)."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

from secondconf.checks.monetization import billing, lineage, model
from secondconf.checks.monetization.actors import Sent
from secondconf.engine.results import CheckRecord, ResultsModel
from secondconf.engine.verdict import Outcome
from secondconf.reports.monetization import (
    BILLING_REPORT,
    LINEAGE_REPORT,
    write_monetization_reports,
)

from tests.plugin.pytester_helpers import settings_under

CATALOG = {"lesson": 12, "tutoring_session": 40}


class FakeActor:
    """A6 and A4 as a target would answer them; ``truncate`` is the fee fault, ``markup``
    the multiplier it applies."""

    def __init__(self, *, truncate: bool = False, markup: int = 4) -> None:
        self.truncate = truncate
        self.markup = markup
        self.sent = 0

    def _answer(self, app_id: str, path: str, status: int, body: Any) -> Sent:
        self.sent += 1
        return Sent(app_id, path, f"{self.sent:032x}", status, body)

    def post(self, app_id: str, path: str, body: dict[str, Any]) -> Sent:
        if path == "/v1/providers":
            return self._answer(app_id, path, 200, {})
        if path == "/v1/work":
            cost = CATALOG[body["kind"]] * body["units"]
            return self._answer(
                app_id,
                path,
                201,
                {"cost_cents": cost, "markup": 4, "billed_cents": cost * self.markup},
            )
        gross, cost = body["gross_cents"], body.get("work_cost_cents")
        product = Decimal(gross) * Decimal("0.03")
        fee = int(
            product.to_integral_value(ROUND_DOWN)
            if self.truncate
            else (product + Decimal("0.5")) // 1
        )
        metrics = {
            "currency": "usd",
            "gross_cents": gross,
            "fee_rate": "0.03",
            "fee_cents": fee,
            "net_cents": gross - fee,
            "cost_cents": cost,
            "markup": None if cost is None else 4,
            "billed_cents": None if cost is None else cost * self.markup,
        }
        return self._answer(app_id, path, 201, {"finance_metrics": metrics})

    def get(self, app_id: str, path: str) -> Sent:
        kinds = {kind: {"unit_cost_cents": cost} for kind, cost in CATALOG.items()}
        return self._answer(app_id, path, 200, {"kinds": kinds})


def explore(actor: FakeActor, budget: billing.BillingBudget) -> billing.BillingExploration:
    driver = billing.BillingDriver(actor, actor)  # type: ignore[arg-type]
    assert driver.register() is None
    exploration = driver.explore(budget)
    # A8 holds what A6 answered
    for case in exploration.billed:
        object.__setattr__(case, "in_a8", case.answered)
    return exploration


BUDGET = billing.BillingBudget(boundary_high_cents=1000, generated_billings=15, generated_work=8)


def test_a_correct_target_passes_every_boundary_and_generated_case() -> None:
    exploration = explore(FakeActor(), BUDGET)
    fee = billing.judge_fee(exploration, BUDGET)
    assert fee.outcome is Outcome.PASS
    boundaries = [c.gross_cents for c in exploration.billed if c.origin == "boundary"]
    assert boundaries == [50, 150, 250, 350, 450, 550, 650, 750, 850, 950]
    assert fee.n == len(exploration.billed) > len(boundaries)
    assert billing.judge_markup(exploration, BUDGET).outcome is Outcome.PASS


def test_the_search_is_reproducible() -> None:
    first = [(c.gross_cents, c.work_cost_cents) for c in explore(FakeActor(), BUDGET).billed]
    again = [(c.gross_cents, c.work_cost_cents) for c in explore(FakeActor(), BUDGET).billed]
    assert first == again


def test_a_truncated_fee_fails_with_gross_50_as_the_minimal_example() -> None:
    exploration = explore(FakeActor(truncate=True), BUDGET)
    fee = billing.judge_fee(exploration, BUDGET)
    assert fee.outcome is Outcome.FAIL
    assert fee.details["minimal_failing_example"]["gross_cents"] == 50
    assert fee.details["violations"][0] == (
        "gross 50: in A6's answer: fee_cents 1, the model says 2; in A6's answer: net_cents "
        "49, the model says 48; in A8: fee_cents 1, the model says 2; in A8: net_cents 49, "
        "the model says 48"
    )
    # truncation is off by one cent at every half-cent boundary
    failed = {v.split(":")[0] for v in fee.details["violations"]}
    assert {f"gross {g}" for g in range(50, 1001, 100)} <= failed


def test_a_missing_markup_fails_and_shrinks_to_the_smallest_work() -> None:
    exploration = explore(FakeActor(markup=1), BUDGET)
    markup = billing.judge_markup(exploration, BUDGET)
    assert markup.outcome is Outcome.FAIL
    assert markup.details["minimal_failing_example"] == {
        "app": "A4",
        "kind": "lesson",
        "units": 1,
        "problems": ["billed_cents 12, the model says 48"],
    }


def test_fee_problems_name_each_field_and_refuse_a_float_rate() -> None:
    right = {
        "currency": "usd",
        "gross_cents": 150,
        "fee_rate": "0.030",
        "fee_cents": 5,
        "net_cents": 145,
    }
    assert billing.fee_problems(right, 150) == []
    assert billing.fee_problems(right | {"fee_rate": 0.03}, 150) == [
        "fee_rate 0.03, the model says '0.03'"
    ]
    assert billing.fee_problems(None, 150) == ["no finance_metrics"]
    assert model.fee_cents(150) == 5


def _money(n: int) -> lineage.Money:
    return lineage.Money(Sent("A2", "/v1/checkout", f"{n:032x}", 201, {}), 0.0, "")


def test_a_settlement_never_on_the_tile_fails_lin03() -> None:
    run = lineage.LineageRun(money=[_money(1), _money(2)], seen_after_s={f"{1:032x}": 0.4})
    verdict = lineage.judge_tiles(run)
    assert verdict.outcome is Outcome.FAIL
    assert verdict.details["violations"] == [f"A2 trace {2:032x}: never on the tile in 60 s"]


def _dashboard(real_usd: int, *items: dict[str, Any]) -> dict[str, Any]:
    return {
        "tiles": [
            {"tile": "real_revenue", "totals": {"usd": {"gross_cents": real_usd}}},
            {"tile": "lineage", "items": list(items)},
        ]
    }


def test_synthetic_money_in_the_real_totals_fails_lin02() -> None:
    item = {"synthetic": False, "settlement": {"trace_id": f"{1:032x}"}}
    run = lineage.LineageRun(money=[_money(1)], before=_dashboard(700), after=_dashboard(750, item))
    verdict = lineage.judge_synthetic_apart(run, [])
    assert verdict.outcome is Outcome.FAIL
    assert verdict.details["violations"] == [
        f"A2 trace {1:032x}: counted as real revenue",
        "real usd revenue moved by 50 cents; real settlements in the window add up to 0",
    ]
    clean = lineage.LineageRun(
        money=[_money(1)],
        before=_dashboard(700),
        after=_dashboard(700, item | {"synthetic": True}),
    )
    assert lineage.judge_synthetic_apart(clean, []).outcome is Outcome.PASS


def test_the_reports_are_written_from_the_verdicts(tmp_path: Path) -> None:
    exploration = explore(FakeActor(truncate=True), BUDGET)
    marks = {"tags": ["second_confirmation", "monetization"], "rules": ["MON-01", "MON-02"]}
    checks = {
        "billing": CheckRecord(
            "suites/test_monetization.py::test_billing_logic",
            marks,
            outcome="failed",
            verdicts=[
                billing.judge_fee(exploration, BUDGET),
                billing.judge_markup(exploration, BUDGET),
            ],
        ),
        "lineage": CheckRecord(
            "suites/test_monetization.py::test_revenue_lineage",
            {**marks, "rules": ["LIN-01", "LIN-02", "LIN-03"]},
            outcome="skipped",
            skip_reason="awaiting approval",
        ),
    }
    settings = settings_under(tmp_path)
    write_monetization_reports(ResultsModel(checks=checks), settings)
    text = (settings.reports_dir / BILLING_REPORT).read_text()
    assert "| MON-01 provider fee" in text
    assert "**FAIL** (CHECK_FAILED)" in text
    assert "**Minimal failing example** (shrunk by Hypothesis): gross_cents=50" in text
    assert "| boundary | 150 | yes | 5 | 4 | 4 |" in text
    assert "| MON-03 | **NOT RUN** |" in text
    lineage_text = (settings.reports_dir / LINEAGE_REPORT).read_text()
    assert "| LIN-01 | **NOT RUN** | – | awaiting approval |" in lineage_text
