"""The idempotency record store (contract §4): one SQLite row per (tenant, method, route, key).

Why it looks like this:

* The claim is a single ``INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING``: N identical
  requests released together race on one primary key, exactly one gets the row back and
  runs; the others read the row and answer 409 (in flight) or replay (completed).
* Expiry is decided from stored timestamps against the ``TargetClock`` on every claim (the
  purge is housekeeping only), so the ``clock_offset_s`` fault crosses the TTL for real.
* A claim that was taken over (TTL passed, or an in-flight lock older than the lock expiry
  on an identical request) starts a fresh record; an in-flight lock never blocks forever.
* The trace id is not part of the scope. ``trace_id`` is only folded into the key when the
  ``dedupe_without_trace`` fault turns that rule off.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from dataclasses import dataclass

from reftarget.clock import Clock

DEFAULT_TTL_S = 900.0
DEFAULT_LOCK_EXPIRY_S = 30.0
_PURGE_INTERVAL_S = 60.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency_records (
    tenant      TEXT NOT NULL,
    method      TEXT NOT NULL,
    route       TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('in_flight', 'completed')),
    claim_token TEXT NOT NULL,
    created_at  REAL NOT NULL,
    locked_at   REAL NOT NULL,
    status      INTEGER,
    headers     TEXT,
    body        BLOB,
    PRIMARY KEY (tenant, method, route, key)
);
"""

_CLAIM = """
INSERT INTO idempotency_records
    (tenant, method, route, key, fingerprint, state, claim_token, created_at, locked_at)
VALUES (:tenant, :method, :route, :key, :fingerprint, 'in_flight', :token, :now, :now)
ON CONFLICT (tenant, method, route, key) DO UPDATE SET
    fingerprint = excluded.fingerprint,
    state = 'in_flight',
    claim_token = excluded.claim_token,
    created_at = excluded.created_at,
    locked_at = excluded.locked_at,
    status = NULL,
    headers = NULL,
    body = NULL
WHERE idempotency_records.created_at <= :expired_before
   OR (idempotency_records.state = 'in_flight'
       AND idempotency_records.locked_at <= :lock_expired_before
       AND idempotency_records.fingerprint = excluded.fingerprint)
RETURNING claim_token
"""

_SCOPE_WHERE = "tenant = :tenant AND method = :method AND route = :route AND key = :key"


@dataclass(frozen=True)
class IdempotencyScope:
    """What a key means: the same key under another tenant, method or route is another key."""

    tenant: str
    method: str
    route: str
    key: str

    def params(self) -> dict[str, str]:
        return {"tenant": self.tenant, "method": self.method, "route": self.route, "key": self.key}


@dataclass(frozen=True)
class StoredResponse:
    """A completed response as it will be replayed."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Claimed:
    """This request owns the key; it must ``complete`` or ``release`` with ``token``."""

    token: str


@dataclass(frozen=True)
class Replay:
    """An identical request completed within the TTL: answer with its response."""

    response: StoredResponse


@dataclass(frozen=True)
class FingerprintMismatch:
    """The key was used within the TTL for a different request (→ 422)."""


@dataclass(frozen=True)
class InFlight:
    """An identical request holds the key right now (→ 409)."""


ClaimOutcome = Claimed | Replay | FingerprintMismatch | InFlight


def canonical_json(body: bytes) -> bytes:
    """Sorted keys, no insignificant whitespace; a body that is not JSON is kept as is."""
    if not body.strip():
        return b""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return b"raw:" + body
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def request_fingerprint(method: str, route: str, body: bytes) -> str:
    """sha256 over method, route template and canonical JSON body."""
    digest = hashlib.sha256()
    digest.update(method.encode() + b"\n" + route.encode() + b"\n")
    digest.update(canonical_json(body))
    return digest.hexdigest()


class IdempotencyStore:
    """Claims, completes and releases idempotency records in the app's database."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        clock: Clock,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        lock_expiry_s: float = DEFAULT_LOCK_EXPIRY_S,
    ) -> None:
        self._conn = conn
        self._clock = clock
        self.ttl_s = ttl_s
        self.lock_expiry_s = lock_expiry_s
        self._last_purge = float("-inf")
        conn.executescript(SCHEMA)

    def claim(self, scope: IdempotencyScope, fingerprint: str) -> ClaimOutcome:
        """Take the key, or say why not (replay, mismatch, in flight)."""
        now = self._clock.time()
        self._purge_now_and_then(now)
        token = secrets.token_hex(16)
        won = self._conn.execute(
            _CLAIM,
            {
                **scope.params(),
                "fingerprint": fingerprint,
                "token": token,
                "now": now,
                "expired_before": now - self.ttl_s,
                "lock_expired_before": now - self.lock_expiry_s,
            },
        ).fetchone()
        if won is not None and won[0] == token:
            return Claimed(token)
        row = self._conn.execute(
            f"SELECT fingerprint, state, status, headers, body FROM idempotency_records "
            f"WHERE {_SCOPE_WHERE}",
            scope.params(),
        ).fetchone()
        if row is None:  # purged between the two statements: try once more
            return self.claim(scope, fingerprint)
        if row["fingerprint"] != fingerprint:
            return FingerprintMismatch()
        if row["state"] == "in_flight":
            return InFlight()
        headers = [(name, value) for name, value in json.loads(row["headers"])]
        return Replay(StoredResponse(int(row["status"]), headers, bytes(row["body"])))

    def complete(self, scope: IdempotencyScope, token: str, response: StoredResponse) -> bool:
        """Store the final response; False when the claim was lost (lock expired, taken over)."""
        cursor = self._conn.execute(
            f"UPDATE idempotency_records SET state = 'completed', status = :status, "
            f"headers = :headers, body = :body WHERE {_SCOPE_WHERE} AND claim_token = :token",
            {
                **scope.params(),
                "status": response.status,
                "headers": json.dumps(response.headers),
                "body": response.body,
                "token": token,
            },
        )
        return cursor.rowcount == 1

    def release(self, scope: IdempotencyScope, token: str) -> None:
        """Forget a claim whose request did not complete, so a retry runs again."""
        self._conn.execute(
            f"DELETE FROM idempotency_records WHERE {_SCOPE_WHERE} AND claim_token = :token",
            {**scope.params(), "token": token},
        )

    def _purge_now_and_then(self, now: float) -> None:
        if now - self._last_purge < _PURGE_INTERVAL_S and now >= self._last_purge:
            return
        self._last_purge = now
        self._conn.execute(
            "DELETE FROM idempotency_records WHERE created_at <= :cutoff",
            {"cutoff": now - self.ttl_s - self.lock_expiry_s},
        )
