"""A5 credits: first use once, decrements with the 4x markup, no overdraft."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pytest
from reftarget.domain.credits import CreditLedger, InsufficientCredits
from reftarget.domain.errors import NotFound

if TYPE_CHECKING:
    from conftest import FakeClock

T, U = "tenant_qa_b2c", "test_student_e2e_01"


def test_first_use_is_emitted_exactly_once_even_across_a_restart(
    clock: FakeClock, conn: sqlite3.Connection
) -> None:
    ledger = CreditLedger(conn, clock)
    first = ledger.activate(T, U)
    clock.advance(60)
    again = ledger.activate(T, U)
    after_restart = CreditLedger(conn, clock).activate(T, U)
    assert first.first_use
    assert [e.event_name for e in first.emitted] == ["activation_first_use"]
    assert first.emitted[0].fields["tenant_id"] == T
    assert (again.first_use, again.emitted) == (False, ())
    assert (after_restart.first_use, after_restart.emitted) == (False, ())
    assert after_restart.account.activated_at == first.account.activated_at


def test_a_spend_decrements_credits_and_bills_four_times_the_cost(
    clock: FakeClock, conn: sqlite3.Connection
) -> None:
    ledger = CreditLedger(conn, clock)
    ledger.grant(T, U, 10)
    spend = ledger.spend(T, U, 3, work_cost_cents=7)
    assert spend.account.balance == 7
    assert (spend.cost_cents, spend.markup, spend.billed_cents) == (7, 4, 28)
    [event] = spend.emitted
    assert event.event_name == "credit_decrement"
    assert event.fields["tenant_id"] == T
    assert event.fields["balance"] == 7
    assert event.fields["finance_metrics"] == {
        "currency": "usd",
        "gross_cents": None,
        "fee_rate": None,
        "fee_cents": None,
        "cost_cents": 7,
        "markup": 4,
        "billed_cents": 28,
        "net_cents": None,
        "stripe_object_id": None,
    }


def test_insufficient_credits_debit_nothing_and_emit_nothing(
    clock: FakeClock, conn: sqlite3.Connection
) -> None:
    ledger = CreditLedger(conn, clock)
    ledger.grant(T, U, 2)
    with pytest.raises(InsufficientCredits) as short:
        ledger.spend(T, U, 3, work_cost_cents=5)
    assert (short.value.balance, short.value.requested) == (2, 3)
    assert ledger.account(T, U).balance == 2
    assert ledger.spend(T, U, 2, work_cost_cents=5).account.balance == 0


def test_spending_from_an_unknown_account_is_not_found(
    clock: FakeClock, conn: sqlite3.Connection
) -> None:
    with pytest.raises(NotFound):
        CreditLedger(conn, clock).spend(T, "nobody", 1, work_cost_cents=1)


def test_accounts_are_per_tenant_and_user(clock: FakeClock, conn: sqlite3.Connection) -> None:
    ledger = CreditLedger(conn, clock)
    ledger.grant(T, U, 5)
    ledger.grant("other_tenant", U, 1)
    assert ledger.account(T, U).balance == 5
    assert ledger.account("other_tenant", U).balance == 1


def test_a_grant_is_not_a_first_use(clock: FakeClock, conn: sqlite3.Connection) -> None:
    ledger = CreditLedger(conn, clock)
    ledger.grant(T, U, 5)
    assert ledger.account(T, U).activated_at is None
    assert ledger.activate(T, U).first_use


@pytest.mark.parametrize(
    ("credits", "error"), [(0, ValueError), (-1, ValueError), (True, TypeError), (1.5, TypeError)]
)
def test_credit_amounts_must_be_positive_ints(
    credits: int, error: type[Exception], clock: FakeClock, conn: sqlite3.Connection
) -> None:
    with pytest.raises(error, match="credits"):
        CreditLedger(conn, clock).grant(T, U, credits)
