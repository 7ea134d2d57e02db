"""SQLite for the apps: one WAL database file per app under the state directory.

State lives on disk so that an app restart (``Ecosystem.restart``) keeps its rows and
idempotency records, as a real deployment's database would. Each app process opens one
autocommit connection and uses it from its event loop; WAL lets readers (a second
process, a test) look at the file while the app writes.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

_BUSY_TIMEOUT_MS = 5000


def app_data_dir(state_dir: Path, app_id: str) -> Path:
    """The directory that holds one app's files (created on demand, owner only)."""
    directory = state_dir / "apps" / app_id.lower()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return directory


def app_db_path(state_dir: Path, app_id: str) -> Path:
    """The app's own database file (its tables and its idempotency records)."""
    return app_data_dir(state_dir, app_id) / "app.sqlite3"


def open_database(path: Path, schema: str = "") -> sqlite3.Connection:
    """Open (and create) a WAL database in autocommit mode and apply ``schema`` (idempotent DDL).

    Autocommit keeps single statements atomic on their own; code that needs several
    statements together opens an explicit ``BEGIN IMMEDIATE`` transaction.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    if schema:
        conn.executescript(schema)
    return conn
