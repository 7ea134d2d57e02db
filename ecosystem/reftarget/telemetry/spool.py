"""The emitter's durable list of finance events that A8 has not yet taken.

Money must not vanish because A8 was down: a finance event is written here (SQLite, WAL,
``synchronous=NORMAL``: a commit survives a crash of the process, fsync is left to
checkpoints) before ``emit`` returns, and leaves only when A8 acknowledges it. With no path
the spool lives in memory: finance events then survive an A8 outage but not a restart.

If the database cannot be written (disk full, locked by a stale process), the event is kept
in a memory fallback rather than lost or raised into the request path.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

from reftarget.clock import Clock

log = logging.getLogger("reftarget.telemetry.spool")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS finance_spool (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL,            -- the event as JSON text, exactly as it will be sent
    created_at REAL NOT NULL,      -- epoch seconds (clock.time()), for operators
    attempts INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'pending',   -- 'pending' | 'rejected' (A8 refused it as invalid)
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS finance_spool_state ON finance_spool (state, id);
"""


class FinanceSpool:
    """Pending finance events, oldest first; ids are positive (database) or negative (memory)."""

    def __init__(self, path: Path | str | None, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._memory: dict[int, str] = {}
        self._next_memory_id = -1
        target = ":memory:" if path is None else str(path)
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA busy_timeout = 200")
        if path is not None:
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.executescript(_SCHEMA)

    def add(self, body: str) -> int:
        """Keep one event (JSON text) until ``settle``; never raises."""
        with self._lock:
            try:
                cursor = self._db.execute(
                    "INSERT INTO finance_spool (body, created_at) VALUES (?, ?)",
                    (body, self._clock.time()),
                )
                return int(cursor.lastrowid or 0)
            except sqlite3.Error as exc:
                log.error("finance spool write failed, keeping the event in memory: %s", exc)
                entry_id = self._next_memory_id
                self._next_memory_id -= 1
                self._memory[entry_id] = body
                return entry_id

    def due(self, limit: int) -> list[tuple[int, str]]:
        """Up to ``limit`` pending events, memory fallback first, then oldest first."""
        with self._lock:
            items = sorted(self._memory.items(), reverse=True)[:limit]
            rows = self._db.execute(
                "SELECT id, body FROM finance_spool WHERE state = 'pending' ORDER BY id LIMIT ?",
                (max(0, limit - len(items)),),
            ).fetchall()
        return items + [(int(r[0]), str(r[1])) for r in rows]

    def settle(self, ids: Iterable[int]) -> None:
        """A8 took these events (accepted or already held): forget them."""
        with self._lock:
            for entry_id in ids:
                if entry_id < 0:
                    self._memory.pop(entry_id, None)
                else:
                    self._db.execute("DELETE FROM finance_spool WHERE id = ?", (entry_id,))

    def reject(self, entry_id: int, problems: list[str]) -> None:
        """A8 refused the event as invalid: stop retrying but keep it for an operator."""
        reason = "; ".join(problems)[:2000]
        with self._lock:
            body = self._memory.pop(entry_id, None)
            if body is not None:
                log.error("finance event rejected by A8 (%s): %s", reason, body)
                return
            self._db.execute(
                "UPDATE finance_spool SET state = 'rejected', last_error = ? WHERE id = ?",
                (reason, entry_id),
            )

    def failed(self, ids: Iterable[int], error: str) -> None:
        """A delivery attempt failed; count it (the emitter schedules the retry)."""
        with self._lock:
            for entry_id in ids:
                if entry_id > 0:
                    self._db.execute(
                        "UPDATE finance_spool SET attempts = attempts + 1, last_error = ? "
                        "WHERE id = ?",
                        (error[:2000], entry_id),
                    )

    def pending(self) -> int:
        """How many finance events still wait for A8."""
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM finance_spool WHERE state = 'pending'"
            ).fetchone()
            return int(row[0]) + len(self._memory)

    def close(self) -> None:
        with self._lock:
            self._db.close()
