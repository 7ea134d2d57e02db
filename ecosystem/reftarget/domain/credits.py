"""A5's credits: accounts per (tenant, user), first-use activation, grants and spends.

Why these rules: ``activation_first_use`` feeds the activation dashboard, so it must fire
exactly once per account, across retries and restarts (the flag is written in the same
transaction that decides it). A spend is A4 work sold to the student: the ledger debits
credits and records the work's cost and the 4x billed amount through ``reftarget.money``,
so the ``credit_decrement`` finance metrics match what A8 and the harness recompute.
A spend never takes a balance below zero (checked and debited in one statement).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reftarget import money
from reftarget.clock import Clock
from reftarget.domain._validate import identifier, non_negative_int, positive_int
from reftarget.domain.errors import DomainError, NotFound
from reftarget.domain.instants import parse_instant, rfc3339, utc_now
from reftarget.domain.records import Emitted
from reftarget.domain.storage import Database, DbLike, as_database

__all__ = [
    "Account",
    "Activation",
    "CreditGrant",
    "CreditLedger",
    "CreditSpend",
    "InsufficientCredits",
]


@dataclass(frozen=True)
class Account:
    tenant_id: str
    user_id: str
    balance: int
    created_at: datetime
    activated_at: datetime | None


@dataclass(frozen=True)
class Activation:
    """``first_use`` is True only for the call that activated the account."""

    account: Account
    first_use: bool
    emitted: tuple[Emitted, ...]


@dataclass(frozen=True)
class CreditGrant:
    account: Account
    credits: int


@dataclass(frozen=True)
class CreditSpend:
    """A debit for A4 work; ``emitted`` holds its ``credit_decrement``."""

    account: Account
    credits: int
    cost_cents: int
    markup: int
    billed_cents: int
    finance_metrics: dict[str, Any]
    emitted: tuple[Emitted, ...]


class InsufficientCredits(DomainError):
    """The balance does not cover the spend; nothing was debited."""

    def __init__(self, tenant_id: str, user_id: str, balance: int, requested: int) -> None:
        super().__init__(f"{tenant_id}/{user_id} has {balance} credits, {requested} requested")
        self.tenant_id = tenant_id
        self.user_id = user_id
        self.balance = balance
        self.requested = requested


_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS a5_accounts ("
    " tenant_id TEXT NOT NULL, user_id TEXT NOT NULL, balance INTEGER NOT NULL"
    " CHECK (balance >= 0), created_at TEXT NOT NULL, activated_at TEXT,"
    " PRIMARY KEY (tenant_id, user_id))",
    "CREATE TABLE IF NOT EXISTS a5_credit_ledger ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, tenant_id TEXT NOT NULL, user_id TEXT NOT NULL,"
    " kind TEXT NOT NULL, credits INTEGER NOT NULL, cost_cents INTEGER,"
    " billed_cents INTEGER, at TEXT NOT NULL)",
]


class CreditLedger:
    """Credit accounts in ``a5_accounts``, every movement in ``a5_credit_ledger``.

    ``markup`` defaults to the contract's 4; a fault may construct a ledger with another.
    """

    def __init__(self, db: DbLike, clock: Clock, *, markup: int = money.WORK_MARKUP) -> None:
        self._db: Database = as_database(db)
        self._clock = clock
        self._markup = markup
        self._db.ensure_schema(_SCHEMA)

    def account(self, tenant_id: str, user_id: str) -> Account:
        """The account, or NotFound."""
        with self._db.reading() as conn:
            return _read(conn, tenant_id, user_id)

    def activate(self, tenant_id: str, user_id: str) -> Activation:
        """Mark first use; the first call emits ``activation_first_use``, later ones nothing."""
        identifier("tenant_id", tenant_id)
        identifier("user_id", user_id)
        now = rfc3339(utc_now(self._clock))
        with self._db.transaction() as conn:
            self._ensure(conn, tenant_id, user_id, now)
            cursor = conn.execute(
                "UPDATE a5_accounts SET activated_at = ? WHERE tenant_id = ? AND user_id = ?"
                " AND activated_at IS NULL",
                (now, tenant_id, user_id),
            )
            first = cursor.rowcount == 1
            account = _read(conn, tenant_id, user_id)
        emitted: tuple[Emitted, ...] = ()
        if first:
            assert account.activated_at is not None
            emitted = (
                Emitted(
                    "activation_first_use",
                    {
                        "tenant_id": tenant_id,
                        "user_id": user_id,
                        "activated_at": rfc3339(account.activated_at),
                    },
                    account.activated_at,
                ),
            )
        return Activation(account, first, emitted)

    def grant(self, tenant_id: str, user_id: str, credits: int) -> CreditGrant:
        """Add credits (creating the account if needed; a grant is not a first use)."""
        identifier("tenant_id", tenant_id)
        identifier("user_id", user_id)
        positive_int("credits", credits)
        now = rfc3339(utc_now(self._clock))
        with self._db.transaction() as conn:
            self._ensure(conn, tenant_id, user_id, now)
            conn.execute(
                "UPDATE a5_accounts SET balance = balance + ? WHERE tenant_id = ? AND user_id = ?",
                (credits, tenant_id, user_id),
            )
            conn.execute(
                "INSERT INTO a5_credit_ledger (tenant_id, user_id, kind, credits, at)"
                " VALUES (?, ?, 'grant', ?, ?)",
                (tenant_id, user_id, credits, now),
            )
            account = _read(conn, tenant_id, user_id)
        return CreditGrant(account, credits)

    def spend(
        self, tenant_id: str, user_id: str, credits: int, work_cost_cents: int
    ) -> CreditSpend:
        """Debit ``credits`` for A4 work that cost ``work_cost_cents``.

        Raises InsufficientCredits (nothing debited, nothing emitted) when the balance is
        short, NotFound when the account does not exist. Spending does not activate.
        """
        identifier("tenant_id", tenant_id)
        identifier("user_id", user_id)
        positive_int("credits", credits)
        non_negative_int("work_cost_cents", work_cost_cents)
        billed = money.marked_up_cents(work_cost_cents, self._markup)
        metrics = money.finance_metrics(
            cost_cents=work_cost_cents, markup=self._markup, billed_cents=billed
        )
        at = utc_now(self._clock)
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE a5_accounts SET balance = balance - ? WHERE tenant_id = ? AND user_id = ?"
                " AND balance >= ?",
                (credits, tenant_id, user_id, credits),
            )
            if cursor.rowcount != 1:
                row = conn.execute(
                    "SELECT balance FROM a5_accounts WHERE tenant_id = ? AND user_id = ?",
                    (tenant_id, user_id),
                ).fetchone()
                if row is None:
                    raise NotFound(f"no credit account for {tenant_id}/{user_id}")
                raise InsufficientCredits(tenant_id, user_id, int(row[0]), credits)
            conn.execute(
                "INSERT INTO a5_credit_ledger (tenant_id, user_id, kind, credits, cost_cents,"
                " billed_cents, at) VALUES (?, ?, 'spend', ?, ?, ?, ?)",
                (tenant_id, user_id, -credits, work_cost_cents, billed, rfc3339(at)),
            )
            account = _read(conn, tenant_id, user_id)
        event = Emitted(
            "credit_decrement",
            {
                "tenant_id": tenant_id,
                "user_id": user_id,
                "credits": credits,
                "balance": account.balance,
                "finance_metrics": dict(metrics),
            },
            at,
        )
        return CreditSpend(
            account, credits, work_cost_cents, self._markup, billed, metrics, (event,)
        )

    def _ensure(self, conn: sqlite3.Connection, tenant_id: str, user_id: str, now: str) -> None:
        conn.execute(
            "INSERT OR IGNORE INTO a5_accounts (tenant_id, user_id, balance, created_at)"
            " VALUES (?, ?, 0, ?)",
            (tenant_id, user_id, now),
        )


def _read(conn: sqlite3.Connection, tenant_id: str, user_id: str) -> Account:
    row = conn.execute(
        "SELECT balance, created_at, activated_at FROM a5_accounts"
        " WHERE tenant_id = ? AND user_id = ?",
        (tenant_id, user_id),
    ).fetchone()
    if row is None:
        raise NotFound(f"no credit account for {tenant_id}/{user_id}")
    return Account(
        tenant_id,
        user_id,
        int(row[0]),
        parse_instant(row[1]),
        parse_instant(row[2]) if row[2] is not None else None,
    )
