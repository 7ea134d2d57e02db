"""A8's event store: validated ingest with dedupe, SLO queries, event search, dashboards.

SQLite in WAL mode, one connection guarded by a lock (the routes call in from a thread
pool). Times are kept as integer microseconds since the epoch, so range filters are exact.

Dedupe (§6), two rules:

* an event with an ``idempotency_key`` is stored once per ``(event, app_id,
  idempotency_key, trace_id)`` within ``dedupe_window_s`` (900 s) of the *first* receipt
  of that key; a re-send inside the window is a ``duplicate`` (not stored, and it does not
  extend the window); after it, the key is free and the event is stored again;
* an event without one is stored once per ``event_id``, at any distance in time: the id
  names one emission, so a batch re-sent after a lost answer is stored once, while the
  ``http_request`` events of one trace crossing two apps (two ids) are both stored.

Three contract rules can be turned off by the fault switches (``rule_enabled``, given by the
app; this package does not import ``reftarget.core``): ``a8_dedupe`` off stores every copy
of an event; ``event_schema`` off stores each event without its ``p95_ms`` field, as an
ingest that forgot a column would (the event is still validated as sent);
``synthetic_apart`` off counts synthetic revenue as real on the revenue-lineage dashboard.

Time filters (``since``/``until``) apply to the event's own ``timestamp`` and are
inclusive at both ends; ``received_at`` is A8's clock when the event arrived.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal

from reftarget.clock import Clock
from reftarget.telemetry import dashboards
from reftarget.telemetry.schema import Event, validate_event
from reftarget.telemetry.slo import summarize
from reftarget.telemetry.timestamps import format_timestamp, parse_timestamp, to_micros

DEDUPE_WINDOW_S: Final = 900.0
DEFAULT_EVENTS_LIMIT: Final = 1000
MAX_EVENTS_LIMIT: Final = 10_000
SLO_MATRIX_WINDOW: Final = timedelta(hours=1)

Outcome = Literal["accepted", "duplicate", "rejected"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event TEXT NOT NULL,
    app_id TEXT NOT NULL,
    route TEXT,
    status INTEGER,
    latency_ms REAL,
    trace_id TEXT NOT NULL,
    revenue_event_id TEXT,
    sample_rate REAL NOT NULL,
    ts_us INTEGER NOT NULL,          -- the event's timestamp
    received_us INTEGER NOT NULL,    -- A8's clock at receipt
    received_at TEXT NOT NULL,
    body TEXT NOT NULL               -- the event as received (JSON), every field
);
CREATE INDEX IF NOT EXISTS events_slo ON events (event, app_id, route, ts_us);
CREATE INDEX IF NOT EXISTS events_trace ON events (trace_id);
CREATE INDEX IF NOT EXISTS events_name_ts ON events (event, ts_us);
CREATE TABLE IF NOT EXISTS dedupe (
    key TEXT PRIMARY KEY,            -- JSON [event, app_id, idempotency_key, trace_id]
    first_us INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dedupe_first ON dedupe (first_us);
CREATE TABLE IF NOT EXISTS seen_event_ids (
    event_id TEXT PRIMARY KEY        -- events without an idempotency key, once each
);
"""


class UnknownDashboard(KeyError):
    """No dashboard of that name (``dashboards.NAMES`` lists them)."""


@dataclass(frozen=True)
class ItemResult:
    """What ingest did with one element of the posted array."""

    index: int
    outcome: Outcome
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class IngestResult:
    """Counts plus one ``ItemResult`` per posted element, in order."""

    accepted: int
    duplicates: int
    rejected: int
    items: tuple[ItemResult, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "results": [
                {"index": i.index, "outcome": i.outcome, "problems": list(i.problems)}
                for i in self.items
            ],
        }


def _bounds(since: datetime | None, until: datetime | None) -> tuple[int, int]:
    low = to_micros(since) if since is not None else -(2**62)
    high = to_micros(until) if until is not None else 2**62
    return low, high


def _without(item: dict[str, Any], name: str) -> dict[str, Any]:
    """``item`` without the field ``name`` (the ``event_schema`` fault)."""
    return {k: v for k, v in item.items() if k != name}


def _dedupe_key(item: Event) -> str:
    """The window key of an event with an idempotency key: (event, app, key, trace)."""
    return json.dumps([item["event"], item["app_id"], item["idempotency_key"], item["trace_id"]])


def _stamp(moment: datetime | None) -> str | None:
    return None if moment is None else format_timestamp(moment)


class TelemetryStore:
    """A8's storage and queries; every query answer carries ``generated_at``."""

    def __init__(
        self,
        db_path: Path | str,
        clock: Clock,
        *,
        dedupe_window_s: float = DEDUPE_WINDOW_S,
        rule_enabled: Callable[[str], bool] | None = None,
    ) -> None:
        self._clock = clock
        self._rule_enabled = rule_enabled or (lambda _rule: True)
        self._window_us = int(dedupe_window_s * 1_000_000)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.execute("PRAGMA busy_timeout = 5000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def generated_at(self) -> str:
        """Now, on the store's clock, as every answer's ``generated_at``."""
        return format_timestamp(self._clock.now())

    # -- ingest ---------------------------------------------------------------------

    def ingest(self, events: Sequence[object]) -> IngestResult:
        """Validate and store each element; invalid ones are rejected with every reason."""
        now = self._clock.now()
        now_us, received_at = to_micros(now), format_timestamp(now)
        items: list[ItemResult] = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "DELETE FROM dedupe WHERE first_us <= ?", (now_us - self._window_us,)
                )
                for index, item in enumerate(events):
                    items.append(self._ingest_one(index, item, now_us, received_at))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return IngestResult(
            accepted=sum(i.outcome == "accepted" for i in items),
            duplicates=sum(i.outcome == "duplicate" for i in items),
            rejected=sum(i.outcome == "rejected" for i in items),
            items=tuple(items),
        )

    def _ingest_one(self, index: int, item: object, now_us: int, received_at: str) -> ItemResult:
        problems = validate_event(item)
        if problems or not isinstance(item, dict):
            return ItemResult(index, "rejected", tuple(problems))
        if self._seen(item) and self._rule_enabled("a8_dedupe"):
            return ItemResult(index, "duplicate")
        self._remember(item, now_us)
        body = item if self._rule_enabled("event_schema") else _without(item, "p95_ms")
        self._db.execute(
            "INSERT INTO events (event, app_id, route, status, latency_ms, trace_id,"
            " revenue_event_id, sample_rate, ts_us, received_us, received_at, body)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                item["event"],
                item["app_id"],
                item["route"],
                item["status"],
                item["latency_ms"],
                item["trace_id"],
                item["revenue_event_id"],
                float(item["sample_rate"]),
                to_micros(parse_timestamp(item["timestamp"])),
                now_us,
                received_at,
                json.dumps(body, separators=(",", ":"), ensure_ascii=False),
            ),
        )
        return ItemResult(index, "accepted")

    def _seen(self, item: Event) -> bool:
        """Whether A8 already holds this event under §6's dedupe rule (see the module doc)."""
        if item["idempotency_key"] is None:
            sql, value = "SELECT 1 FROM seen_event_ids WHERE event_id = ?", item["event_id"]
        else:
            sql, value = "SELECT 1 FROM dedupe WHERE key = ?", _dedupe_key(item)
        return self._db.execute(sql, (value,)).fetchone() is not None

    def _remember(self, item: Event, now_us: int) -> None:
        if item["idempotency_key"] is None:
            self._db.execute(
                "INSERT OR IGNORE INTO seen_event_ids (event_id) VALUES (?)", (item["event_id"],)
            )
        else:
            self._db.execute(
                "INSERT OR REPLACE INTO dedupe (key, first_us) VALUES (?, ?)",
                (_dedupe_key(item), now_us),
            )

    # -- queries --------------------------------------------------------------------

    def slo(
        self,
        app_id: str,
        route: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> dict[str, Any]:
        """§6's SLO answer for one app (and route; ``None`` = all its routes)."""
        low, high = _bounds(since, until)
        sql = (
            "SELECT status, latency_ms, sample_rate FROM events WHERE event = 'http_request'"
            " AND app_id = ? AND ts_us BETWEEN ? AND ?"
        )
        params: list[Any] = [app_id, low, high]
        if route is not None:
            sql += " AND route = ?"
            params.append(route)
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        answer: dict[str, Any] = {
            "app_id": app_id,
            "route": route,
            "since": _stamp(since),
            "until": _stamp(until),
        }
        answer |= summarize((int(s), float(lat), float(r)) for s, lat, r in rows)
        answer["generated_at"] = self.generated_at()
        return answer

    def events(
        self,
        trace_id: str | None = None,
        event: str | None = None,
        app_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        limit: int = DEFAULT_EVENTS_LIMIT,
    ) -> dict[str, Any]:
        """Stored events matching every given filter, oldest receipt first, with ``received_at``."""
        limit = max(1, min(limit, MAX_EVENTS_LIMIT))
        low, high = _bounds(since, until)
        sql = "SELECT body, received_at FROM events WHERE ts_us BETWEEN ? AND ?"
        params: list[Any] = [low, high]
        for column, value in (("trace_id", trace_id), ("event", event), ("app_id", app_id)):
            if value is not None:
                sql += f" AND {column} = ?"
                params.append(value)
        sql += " ORDER BY id LIMIT ?"
        params.append(limit + 1)
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        found = [json.loads(body) | {"received_at": received} for body, received in rows[:limit]]
        return {
            "events": found,
            "count": len(found),
            "truncated": len(rows) > limit,
            "generated_at": self.generated_at(),
        }

    def _rows(
        self,
        names: Iterable[str],
        since: datetime | None,
        until: datetime | None,
        trace_id: str | None = None,
    ) -> list[Event]:
        names = list(names)
        low, high = _bounds(since, until)
        marks = ",".join("?" * len(names))
        sql = (
            f"SELECT body, received_at FROM events WHERE event IN ({marks})"
            " AND ts_us BETWEEN ? AND ?"
        )
        params: list[Any] = [*names, low, high]
        if trace_id is not None:
            sql += " AND trace_id = ?"
            params.append(trace_id)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id", params).fetchall()
        return [json.loads(body) | {"received_at": received} for body, received in rows]

    def dashboard(
        self,
        name: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """One of ``dashboards.NAMES``: ``{"name", "since", "until", "tiles", "generated_at"}``.

        ``slo-matrix`` looks at the last hour unless ``since`` is given; the others at all
        stored time (revenue lineage joins settlements to sources outside any window).
        ``trace_id`` (harness extension) narrows the activation dashboard to one trace's
        events, each listed with its ``timestamp`` and ``received_at``, and the
        funnel-status dashboard to that trace, adding its journey tile (``journey``).
        """
        if name not in dashboards.NAMES:
            raise UnknownDashboard(name)
        if name == "slo-matrix":
            since = since if since is not None else self._clock.now() - SLO_MATRIX_WINDOW
            tiles = dashboards.slo_matrix(self._rows(["http_request"], since, until))
        elif name == "revenue-lineage":
            settled = self._rows(["revenue_settled"], since, until)
            sources = self._rows(dashboards.LINEAGE_SOURCES, None, None)
            tiles = dashboards.revenue_lineage(
                settled, sources, synthetic_apart=self._rule_enabled("synthetic_apart")
            )
        elif name == "funnel-status":
            names = dict.fromkeys(dashboards.FUNNEL_EVENTS + dashboards.JOURNEY_EVENTS)
            rows = self._rows(names, since, until, trace_id)
            tiles = dashboards.funnel_status(rows)
            if trace_id is not None:  # one journey: each step with its times
                tiles += dashboards.journey(rows, trace_id)
        else:
            rows = self._rows(dashboards.ACTIVATION_EVENTS, since, until, trace_id)
            tiles = dashboards.activation(rows, listed=trace_id is not None)
        return {
            "name": name,
            "since": _stamp(since),
            "until": _stamp(until),
            "trace_id": trace_id,
            "tiles": tiles,
            "generated_at": self.generated_at(),
        }
