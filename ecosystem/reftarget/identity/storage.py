"""SQLite access shared by the key, session and code stores (one database file per app).

A short-lived connection per operation keeps every store safe to call from the event
loop and from the thread pool at once; WAL lets readers run beside a writer.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_BUSY_TIMEOUT_S = 5.0


def prepare(db_path: Path, schema: str) -> None:
    """Create the file owner-only (it holds private keys), switch it to WAL, apply ``schema``."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(db_path, os.O_CREAT | os.O_RDWR, 0o600))
    with connect(db_path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(schema)


@contextmanager
def connect(db_path: Path) -> Iterator[sqlite3.Connection]:
    """An autocommit connection (explicit ``BEGIN`` where atomicity matters), always closed."""
    conn = sqlite3.connect(db_path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()
