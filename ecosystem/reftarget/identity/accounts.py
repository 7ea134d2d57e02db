"""Accounts made on A1's sign-up form, parental consents on record, and the COPPA counter.

Sign-up creates accounts in the synthetic namespace only (contract §5:
``test_student_e2e_NN`` and ``test_provider_e2e_NN``, NN = 01–99), so the harness can
measure a sign-up rate over many distinct users without ever creating a real-looking one.
A refused under-13 sign-up (§14) leaves nothing about the child: not the username, not the
age, not a timestamp; only ``coppa_refusals`` goes up by one.
"""

from __future__ import annotations

import re
from pathlib import Path

from reftarget.clock import Clock
from reftarget.identity import storage

SYNTHETIC_NAMESPACE = re.compile(r"test_(student|provider)_e2e_(0[1-9]|[1-9][0-9])")
_TENANT_OF_KIND = {"student": "tenant_qa_b2c", "provider": "tenant_qa_b2b"}
COPPA_REFUSALS = "coppa_refusals"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    username TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS parental_consents (
    subject TEXT PRIMARY KEY,
    recorded_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


def synthetic_tenant(username: str) -> str | None:
    """The tenant of a name in the synthetic namespace, None for any other name."""
    match = SYNTHETIC_NAMESPACE.fullmatch(username)
    return None if match is None else _TENANT_OF_KIND[match.group(1)]


class AccountStore:
    """Signed-up accounts, consents and counters in A1's SQLite file."""

    def __init__(self, db_path: Path, clock: Clock) -> None:
        self._db_path = db_path
        self._clock = clock
        storage.prepare(db_path, _SCHEMA)

    def tenant(self, username: str) -> str | None:
        """The tenant of a signed-up account, None when there is no such account."""
        with storage.connect(self._db_path) as conn:
            row = conn.execute(
                "SELECT tenant FROM accounts WHERE username = ?", (username,)
            ).fetchone()
        return None if row is None else str(row[0])

    def create(self, username: str, tenant: str) -> bool:
        """Create the account; False when it already existed (nothing changes then)."""
        with storage.connect(self._db_path) as conn:
            cursor = conn.execute(
                "INSERT INTO accounts VALUES (?, ?, ?) ON CONFLICT (username) DO NOTHING",
                (username, tenant, self._clock.time()),
            )
        return cursor.rowcount == 1

    def record_consent(self, subject: str) -> None:
        """Verifiable parental consent is on record for ``subject`` (idempotent)."""
        with storage.connect(self._db_path) as conn:
            conn.execute(
                "INSERT INTO parental_consents VALUES (?, ?) ON CONFLICT (subject) DO NOTHING",
                (subject, self._clock.time()),
            )

    def has_consent(self, subject: str) -> bool:
        with storage.connect(self._db_path) as conn:
            row = conn.execute(
                "SELECT 1 FROM parental_consents WHERE subject = ?", (subject,)
            ).fetchone()
        return row is not None

    def owned(self, username: str) -> int:
        """How many rows name ``username`` here (its account and its consent record)."""
        with storage.connect(self._db_path) as conn:
            accounts = conn.execute(
                "SELECT COUNT(*) FROM accounts WHERE username = ?", (username,)
            ).fetchone()[0]
            consents = conn.execute(
                "SELECT COUNT(*) FROM parental_consents WHERE subject = ?", (username,)
            ).fetchone()[0]
        return int(accounts) + int(consents)

    def delete(self, username: str) -> int:
        """Delete the account and its consent record; the number of rows deleted."""
        with storage.connect(self._db_path) as conn:
            deleted = conn.execute("DELETE FROM accounts WHERE username = ?", (username,)).rowcount
            deleted += conn.execute(
                "DELETE FROM parental_consents WHERE subject = ?", (username,)
            ).rowcount
        return int(deleted)

    def count(self, name: str) -> None:
        """Add one to the counter ``name``."""
        with storage.connect(self._db_path) as conn:
            conn.execute(
                "INSERT INTO counters VALUES (?, 1)"
                " ON CONFLICT (name) DO UPDATE SET value = value + 1",
                (name,),
            )

    def counter(self, name: str) -> int:
        with storage.connect(self._db_path) as conn:
            row = conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return 0 if row is None else int(row[0])
