"""The SQLite seam: WAL on files, atomic transactions, usable on a caller's connection."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from reftarget.domain.bandit import ThompsonBandit
from reftarget.domain.credits import CreditLedger
from reftarget.domain.cycles import CycleRunner
from reftarget.domain.providers import ProviderPortal
from reftarget.domain.storage import Database

if TYPE_CHECKING:
    from conftest import FakeClock


def insert_then_fail(db: Database, value: int) -> None:
    with db.transaction() as conn:
        conn.execute("INSERT INTO t VALUES (?)", (value,))
        raise RuntimeError("boom")


def test_a_database_opened_from_a_path_uses_wal(tmp_path: Path) -> None:
    db = Database(tmp_path / "app.sqlite")
    assert db.query_one("PRAGMA journal_mode") == ("wal",)
    db.close()


def test_a_failed_transaction_leaves_nothing_behind() -> None:
    db = Database(":memory:")
    db.ensure_schema(["CREATE TABLE t (x INTEGER)"])
    with pytest.raises(RuntimeError, match="boom"):
        insert_then_fail(db, 1)
    assert db.query("SELECT x FROM t") == []
    db.close()


def test_inside_the_callers_transaction_a_savepoint_is_used(conn: sqlite3.Connection) -> None:
    db = Database(conn)
    db.ensure_schema(["CREATE TABLE t (x INTEGER)"])
    conn.execute("INSERT INTO t VALUES (1)")  # the caller's own open transaction
    assert conn.in_transaction
    with pytest.raises(RuntimeError, match="boom"):
        insert_then_fail(db, 2)
    conn.commit()
    assert db.query("SELECT x FROM t") == [(1,)]


def test_domain_stores_work_on_an_autocommit_row_factory_connection(
    tmp_path: Path, clock: FakeClock, request: pytest.FixtureRequest
) -> None:
    """The shape core's ``open_database`` hands the apps: autocommit, ``sqlite3.Row`` rows."""
    conn = sqlite3.connect(tmp_path / "app.sqlite3", isolation_level=None)
    request.addfinalizer(conn.close)
    conn.row_factory = sqlite3.Row
    bandit = ThompsonBandit(["a", "b"], random.Random(0), conn, clock=clock)
    bandit.update("a", 1.0)
    reopened = ThompsonBandit(["a", "b"], random.Random(0), conn, clock=clock)
    assert reopened.config() == bandit.config()
    ledger = CreditLedger(conn, clock)
    ledger.grant("t", "u", 3)
    assert ledger.spend("t", "u", 1, 2).account.balance == 2
    portal = ProviderPortal(conn, clock)
    provider = portal.register("t", "p", "P").provider
    listing = portal.create_listing("t", provider.provider_id, "L")
    assert portal.publish_listing("t", listing.listing_id).changed
    record = portal.bill("t", provider.provider_id, 100)
    assert portal.billings("t") == [record]
    runner = CycleRunner(clock, conn, lambda ctx: None)
    runner.run_cycle()
    runner.attribute("c1", "a", "p1")
    assert runner.status().cycles_succeeded == 1
    assert runner.attribution_totals() == {"a": 1}
    assert not conn.in_transaction
