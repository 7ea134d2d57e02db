"""Server-side login sessions behind the ``a1_session`` cookie.

The cookie carries only a random token; the database keeps its SHA-256, so a leaked
database cannot be replayed as cookies. Expiry is absolute (``created + ttl``) and is
checked here on every read, because a cookie's own expiry is enforced only by well-behaved
clients.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path

from reftarget.clock import Clock
from reftarget.identity import storage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    token_sha256 TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    tid TEXT NOT NULL,
    expires_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Session:
    """A logged-in user until ``expires_at`` (epoch seconds)."""

    username: str
    tid: str
    expires_at: float


class SessionStore:
    """Sessions in the app's SQLite file."""

    def __init__(self, db_path: Path, clock: Clock) -> None:
        self._db_path = db_path
        self._clock = clock
        storage.prepare(db_path, _SCHEMA)

    def create(self, username: str, tid: str, ttl_s: int) -> tuple[str, Session]:
        """A new session and the token for its cookie (always fresh: no session fixation)."""
        token = secrets.token_urlsafe(32)
        now = self._clock.time()
        session = Session(username, tid, now + ttl_s)
        with storage.connect(self._db_path) as conn:
            conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
            conn.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?)",
                (_digest(token), username, tid, session.expires_at),
            )
        return token, session

    def get(self, token: str) -> Session | None:
        """The live session for ``token``, or None when unknown or expired."""
        with storage.connect(self._db_path) as conn:
            row = conn.execute(
                "SELECT username, tid, expires_at FROM sessions WHERE token_sha256 = ?",
                (_digest(token),),
            ).fetchone()
        if row is None or row[2] <= self._clock.time():
            return None
        return Session(row[0], row[1], row[2])

    def delete(self, token: str) -> None:
        """End the session (logout); unknown tokens are ignored."""
        with storage.connect(self._db_path) as conn:
            conn.execute("DELETE FROM sessions WHERE token_sha256 = ?", (_digest(token),))

    def count_for(self, username: str) -> int:
        """How many sessions (live or not yet purged) belong to ``username``."""
        with storage.connect(self._db_path) as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM sessions WHERE username = ?", (username,)
            ).fetchone()
        return int(row[0])

    def delete_for(self, username: str) -> int:
        """End every session of ``username`` (its identity is being deleted)."""
        with storage.connect(self._db_path) as conn:
            deleted = conn.execute("DELETE FROM sessions WHERE username = ?", (username,))
            return int(deleted.rowcount)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
