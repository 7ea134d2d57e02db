"""The SQLite the domain persists to, given as a connection or a path.

Why: A3 cycles, A5 credits, A6 providers and the A7 bandit must survive a restart, and the
tests must run on ``:memory:``. The caller owns the database (one file per app, created by
core); a module only adds its own ``CREATE TABLE IF NOT EXISTS`` tables, prefixed by app.

Concurrency: apps call the domain from the event loop and from the thread pool. A path gets
its own connection (``check_same_thread=False``, WAL, busy timeout) and its own lock. A
``sqlite3.Connection`` you pass may be shared by several domain objects, and a connection
can hold only one transaction; ``sqlite3.Connection`` cannot be weak-referenced to key a lock
per connection, so every passed connection serialises through one process-wide lock. Domain
operations are sub-millisecond, so the cost is nil for a reference target.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeAlias

__all__ = ["Database", "DbLike", "as_database"]

_SHARED_CONNECTION_LOCK = threading.RLock()
_savepoint_ids = itertools.count()


class Database:
    """A connection plus the lock and transaction discipline every domain store uses."""

    def __init__(
        self,
        target: sqlite3.Connection | str | os.PathLike[str],
        *,
        busy_timeout_s: float = 5.0,
    ) -> None:
        if isinstance(target, sqlite3.Connection):
            self.conn = target
            self._owned = False
            self._lock: threading.RLock = _SHARED_CONNECTION_LOCK
            return
        path = os.fspath(target)
        # isolation_level=None: autocommit, so BEGIN/COMMIT below are the only transactions.
        self.conn = sqlite3.connect(
            path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        self._owned = True
        self._lock = threading.RLock()
        # WAL lets readers (dashboards) run beside the writer; ":memory:" answers "memory".
        self.conn.execute("PRAGMA journal_mode=WAL")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit: ``BEGIN IMMEDIATE`` (or a savepoint inside the caller's transaction).

        IMMEDIATE takes the write lock up front, so a read-check-write (``balance >= n``) can't
        lose a race to another connection on the same file.
        """
        with self._lock:
            conn = self.conn
            if conn.in_transaction:
                name = f"domain_sp_{next(_savepoint_ids)}"
                conn.execute(f"SAVEPOINT {name}")
                try:
                    yield conn
                except BaseException:
                    conn.execute(f"ROLLBACK TO {name}")
                    conn.execute(f"RELEASE {name}")
                    raise
                conn.execute(f"RELEASE {name}")
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection under the lock, for reads that need no write lock."""
        with self._lock:
            yield self.conn

    def ensure_schema(self, statements: Iterable[str]) -> None:
        """Apply idempotent DDL (``CREATE ... IF NOT EXISTS``) in one transaction."""
        with self.transaction() as conn:
            for statement in statements:
                conn.execute(statement)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of a read, under the same lock as writes."""
        with self._lock:
            return list(self.conn.execute(sql, params).fetchall())

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """The first row of a read, or None."""
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def close(self) -> None:
        """Close the connection if this object opened it (a passed connection is the caller's)."""
        if self._owned:
            with self._lock:
                self.conn.close()


DbLike: TypeAlias = "Database | sqlite3.Connection | str | os.PathLike[str]"
"""Anything a domain store accepts as its database."""


def as_database(db: DbLike) -> Database:
    """Wrap a connection or path; pass a ``Database`` through so stores can share one."""
    return db if isinstance(db, Database) else Database(db)
