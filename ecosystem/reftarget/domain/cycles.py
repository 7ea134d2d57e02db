"""A3's autonomous run: numbered cycles, progress, auto-heal, escalation, stall and autonomy.

Why here and not in the app: the mission's claims ("run_progress > 0 within 60 s",
"a failed cycle heals itself", "200 minutes with no manual intervention") are properties
of this state machine, and they must be provable in virtual time. Everything reads the
injected clock and sleeps through the injected sleeper; state lives in SQLite so the
numbering, heals, escalations, interventions and the autonomy clock survive a restart.

A cycle ``n`` calls ``work(ctx)``; the work may report intermediate progress through
``ctx.progress(percent)``. A cycle that raises is retried (same number) up to
``max_attempts`` in all, after ``backoff.delay(k)``; success after a failure records a
:class:`Heal`. When every attempt fails the cycle is marked failed, an
:class:`Escalation` is recorded for a human, and the next cycle gets the next number.
Heals and escalations are not manual interventions: only :meth:`record_intervention` resets
the autonomy clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from reftarget.clock import Clock
from reftarget.domain.attribution import Attribution, AttributionLedger
from reftarget.domain.instants import parse_instant, rfc3339, utc_now
from reftarget.domain.records import Emitted
from reftarget.domain.resilience import Backoff
from reftarget.domain.storage import Database, DbLike, as_database

__all__ = [
    "CycleAlreadyRunning",
    "CycleContext",
    "CycleResult",
    "CycleRunner",
    "Escalation",
    "Heal",
    "Intervention",
    "RunStatus",
]

STALL_AFTER_S = 2 * 60 * 60
"""A run with no successful cycle for longer than this is stalled."""

_MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class CycleContext:
    """What ``work`` gets: which cycle and attempt this is, and a way to report progress."""

    run: str
    cycle: int
    attempt: int
    _report: Callable[[float], None] = field(repr=False, compare=False)

    def progress(self, percent: float) -> None:
        """Report progress in (0, 100]; a value not above the last one is ignored."""
        self._report(percent)


@dataclass(frozen=True)
class Heal:
    """A cycle that failed, retried on its own, and then succeeded."""

    cycle: int
    failed_attempts: int
    errors: tuple[str, ...]
    healed_at: datetime


@dataclass(frozen=True)
class Escalation:
    """A cycle that failed every attempt: a human should look."""

    cycle: int
    attempts: int
    errors: tuple[str, ...]
    escalated_at: datetime


@dataclass(frozen=True)
class Intervention:
    """A manual action on the run (it resets the autonomy clock)."""

    who: str
    what: str
    at: datetime


@dataclass(frozen=True)
class CycleResult:
    """One cycle's outcome and the events emitted along the way (also sent to ``on_event``)."""

    cycle: int
    status: Literal["succeeded", "failed"]
    attempts: int
    started_at: datetime
    finished_at: datetime
    heal: Heal | None
    escalation: Escalation | None
    emitted: tuple[Emitted, ...]


@dataclass(frozen=True)
class RunStatus:
    """The run's health as of ``as_of``."""

    run: str
    as_of: datetime
    started_at: datetime
    next_cycle: int
    cycles_succeeded: int
    cycles_failed: int
    last_success_at: datetime | None
    seconds_since_success: float
    stalled: bool
    manual_interventions: int
    last_intervention_at: datetime | None
    autonomous_minutes: float
    heals: int
    escalations: int


class CycleAlreadyRunning(RuntimeError):
    """Two cycles of one run must not overlap."""


Work = Callable[[CycleContext], Awaitable[None] | None]

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS a3_runs ("
    " run TEXT PRIMARY KEY, started_at TEXT NOT NULL, next_cycle INTEGER NOT NULL,"
    " cycles_succeeded INTEGER NOT NULL, cycles_failed INTEGER NOT NULL,"
    " last_success_at TEXT, last_intervention_at TEXT)",
    "CREATE TABLE IF NOT EXISTS a3_cycles ("
    " run TEXT NOT NULL, cycle INTEGER NOT NULL, status TEXT NOT NULL,"
    " attempts INTEGER NOT NULL, started_at TEXT NOT NULL, finished_at TEXT,"
    " PRIMARY KEY (run, cycle))",
    "CREATE TABLE IF NOT EXISTS a3_heals ("
    " run TEXT NOT NULL, cycle INTEGER NOT NULL, failed_attempts INTEGER NOT NULL,"
    " errors TEXT NOT NULL, healed_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS a3_escalations ("
    " run TEXT NOT NULL, cycle INTEGER NOT NULL, attempts INTEGER NOT NULL,"
    " errors TEXT NOT NULL, escalated_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS a3_interventions ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, run TEXT NOT NULL, who TEXT NOT NULL,"
    " what TEXT NOT NULL, at TEXT NOT NULL)",
]


class CycleRunner:
    """Runs A3's cycles; see the module docstring for the rules.

    ``work`` is a plain function for :meth:`run_cycle` or may return an awaitable for
    :meth:`arun_cycle`. ``on_event`` receives each :class:`Emitted` as it happens
    (``run_progress`` during the cycle, ``orchestration_cycle_complete`` at the end).
    ``sleep`` / ``async_sleep`` wait out the heal backoff; tests pass ones that move a
    fake clock.
    """

    def __init__(
        self,
        clock: Clock,
        store: DbLike,
        work: Work,
        on_event: Callable[[Emitted], None] | None = None,
        *,
        name: str = "a3",
        max_attempts: int = 3,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        stall_after_s: float = STALL_AFTER_S,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self._clock = clock
        self._db: Database = as_database(store)
        self._work = work
        self._on_event = on_event
        self.name = name
        self.max_attempts = max_attempts
        self._backoff = backoff if backoff is not None else Backoff(1.0, 30.0)
        self._sleep = sleep
        self._async_sleep = async_sleep
        self.stall_after_s = float(stall_after_s)
        self._running = threading.Lock()
        self._db.ensure_schema(_SCHEMA)
        self._attribution = AttributionLedger(self._db, clock)
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO a3_runs VALUES (?, ?, 1, 0, 0, NULL, NULL)",
                (name, rfc3339(utc_now(clock))),
            )
            # A cycle left "running" by a crash will never finish; say so instead.
            conn.execute(
                "UPDATE a3_cycles SET status = 'abandoned' WHERE run = ? AND status = 'running'",
                (name,),
            )

    # -- running cycles --------------------------------------------------------------------

    def run_cycle(self) -> CycleResult:
        """Run the next cycle to completion (with heals), sleeping through ``sleep``."""
        with self._exclusive():
            cycle, started = self._begin()
            emitted: list[Emitted] = []
            errors: list[str] = []
            for attempt in range(1, self.max_attempts + 1):
                ctx = self._context(cycle, attempt, emitted)
                try:
                    outcome = self._work(ctx)
                except Exception as error:
                    errors.append(_describe(error))
                    if attempt < self.max_attempts:
                        self._sleep(self._backoff.delay(attempt - 1))
                    continue
                if inspect.isawaitable(outcome):
                    if inspect.iscoroutine(outcome):
                        outcome.close()
                    raise TypeError("work returned an awaitable; use arun_cycle()")
                return self._succeed(cycle, attempt, started, errors, emitted)
            return self._escalate(cycle, started, errors, emitted)

    async def arun_cycle(self) -> CycleResult:
        """:meth:`run_cycle` for async work, waiting through ``async_sleep``."""
        with self._exclusive():
            cycle, started = self._begin()
            emitted: list[Emitted] = []
            errors: list[str] = []
            for attempt in range(1, self.max_attempts + 1):
                ctx = self._context(cycle, attempt, emitted)
                try:
                    outcome = self._work(ctx)
                    if inspect.isawaitable(outcome):
                        await outcome
                except Exception as error:
                    errors.append(_describe(error))
                    if attempt < self.max_attempts:
                        await self._async_sleep(self._backoff.delay(attempt - 1))
                    continue
                return self._succeed(cycle, attempt, started, errors, emitted)
            return self._escalate(cycle, started, errors, emitted)

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        if not self._running.acquire(blocking=False):
            raise CycleAlreadyRunning(f"run {self.name!r} already has a cycle in progress")
        try:
            yield
        finally:
            self._running.release()

    def _begin(self) -> tuple[int, datetime]:
        started = utc_now(self._clock)
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT next_cycle FROM a3_runs WHERE run = ?", (self.name,)
            ).fetchone()
            cycle = int(row[0])
            conn.execute("UPDATE a3_runs SET next_cycle = ? WHERE run = ?", (cycle + 1, self.name))
            conn.execute(
                "INSERT INTO a3_cycles VALUES (?, ?, 'running', 0, ?, NULL)",
                (self.name, cycle, rfc3339(started)),
            )
        return cycle, started

    def _context(self, cycle: int, attempt: int, emitted: list[Emitted]) -> CycleContext:
        last = [0.0]

        def report(percent: float) -> None:
            value = float(percent)
            if not 0.0 < value <= 100.0:
                raise ValueError(f"progress must be in (0, 100], got {percent!r}")
            if value <= last[0]:
                return
            last[0] = value
            self._emit(
                emitted,
                "run_progress",
                {"run": self.name, "cycle": cycle, "attempt": attempt, "percent": value},
            )

        return CycleContext(self.name, cycle, attempt, report)

    def _succeed(
        self, cycle: int, attempt: int, started: datetime, errors: list[str], emitted: list[Emitted]
    ) -> CycleResult:
        finished = utc_now(self._clock)
        heal = Heal(cycle, len(errors), tuple(errors), finished) if errors else None
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE a3_cycles SET status = 'succeeded', attempts = ?, finished_at = ?"
                " WHERE run = ? AND cycle = ?",
                (attempt, rfc3339(finished), self.name, cycle),
            )
            conn.execute(
                "UPDATE a3_runs SET cycles_succeeded = cycles_succeeded + 1,"
                " last_success_at = ? WHERE run = ?",
                (rfc3339(finished), self.name),
            )
            if heal is not None:
                conn.execute(
                    "INSERT INTO a3_heals VALUES (?, ?, ?, ?, ?)",
                    (self.name, cycle, heal.failed_attempts, json.dumps(errors), rfc3339(finished)),
                )
        if not any(
            e.event_name == "run_progress"
            and e.fields["attempt"] == attempt
            and e.fields["percent"] == 100.0
            for e in emitted
        ):
            self._emit(
                emitted,
                "run_progress",
                {"run": self.name, "cycle": cycle, "attempt": attempt, "percent": 100.0},
            )
        self._emit(
            emitted,
            "orchestration_cycle_complete",
            {
                "run": self.name,
                "cycle": cycle,
                "attempts": attempt,
                "healed": heal is not None,
                "duration_s": (finished - started).total_seconds(),
            },
        )
        return CycleResult(
            cycle, "succeeded", attempt, started, finished, heal, None, tuple(emitted)
        )

    def _escalate(
        self, cycle: int, started: datetime, errors: list[str], emitted: list[Emitted]
    ) -> CycleResult:
        finished = utc_now(self._clock)
        escalation = Escalation(cycle, len(errors), tuple(errors), finished)
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE a3_cycles SET status = 'failed', attempts = ?, finished_at = ?"
                " WHERE run = ? AND cycle = ?",
                (len(errors), rfc3339(finished), self.name, cycle),
            )
            conn.execute(
                "UPDATE a3_runs SET cycles_failed = cycles_failed + 1 WHERE run = ?", (self.name,)
            )
            conn.execute(
                "INSERT INTO a3_escalations VALUES (?, ?, ?, ?, ?)",
                (self.name, cycle, len(errors), json.dumps(errors), rfc3339(finished)),
            )
        return CycleResult(
            cycle, "failed", len(errors), started, finished, None, escalation, tuple(emitted)
        )

    def _emit(self, emitted: list[Emitted], name: str, fields: dict[str, Any]) -> None:
        event = Emitted(name, fields, utc_now(self._clock))
        emitted.append(event)
        if self._on_event is not None:
            self._on_event(event)

    # -- interventions, history, health --------------------------------------------------

    def record_intervention(self, who: str, what: str) -> Intervention:
        """Log a manual action; from now on the run is autonomous again from zero."""
        if not who or not what:
            raise ValueError("an intervention needs who and what")
        at = utc_now(self._clock)
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO a3_interventions (run, who, what, at) VALUES (?, ?, ?, ?)",
                (self.name, who, what, rfc3339(at)),
            )
            conn.execute(
                "UPDATE a3_runs SET last_intervention_at = ? WHERE run = ?",
                (rfc3339(at), self.name),
            )
        return Intervention(who, what, at)

    def interventions(self) -> list[Intervention]:
        rows = self._db.query(
            "SELECT who, what, at FROM a3_interventions WHERE run = ? ORDER BY id", (self.name,)
        )
        return [Intervention(who, what, parse_instant(at)) for who, what, at in rows]

    def heals(self) -> list[Heal]:
        rows = self._db.query(
            "SELECT cycle, failed_attempts, errors, healed_at FROM a3_heals WHERE run = ?"
            " ORDER BY cycle",
            (self.name,),
        )
        return [Heal(c, n, tuple(json.loads(e)), parse_instant(at)) for c, n, e, at in rows]

    def escalations(self) -> list[Escalation]:
        rows = self._db.query(
            "SELECT cycle, attempts, errors, escalated_at FROM a3_escalations WHERE run = ?"
            " ORDER BY cycle",
            (self.name,),
        )
        return [Escalation(c, n, tuple(json.loads(e)), parse_instant(at)) for c, n, e, at in rows]

    def status(self) -> RunStatus:
        """Counts, time since the last successful cycle, stall flag and autonomy minutes."""
        now = utc_now(self._clock)
        row = self._db.query_one(
            "SELECT started_at, next_cycle, cycles_succeeded, cycles_failed, last_success_at,"
            " last_intervention_at FROM a3_runs WHERE run = ?",
            (self.name,),
        )
        assert row is not None  # created in __init__
        started_at = parse_instant(row[0])
        last_success = parse_instant(row[4]) if row[4] is not None else None
        last_intervention = parse_instant(row[5]) if row[5] is not None else None
        # Before the first success, the run has been without progress since it started.
        since_success = (now - (last_success or started_at)).total_seconds()
        autonomy_from = max(started_at, last_intervention or started_at)
        counts = self._db.query_one(
            "SELECT (SELECT COUNT(*) FROM a3_interventions WHERE run = ?),"
            " (SELECT COUNT(*) FROM a3_heals WHERE run = ?),"
            " (SELECT COUNT(*) FROM a3_escalations WHERE run = ?)",
            (self.name, self.name, self.name),
        )
        assert counts is not None
        return RunStatus(
            run=self.name,
            as_of=now,
            started_at=started_at,
            next_cycle=int(row[1]),
            cycles_succeeded=int(row[2]),
            cycles_failed=int(row[3]),
            last_success_at=last_success,
            seconds_since_success=since_success,
            stalled=since_success > self.stall_after_s,
            manual_interventions=int(counts[0]),
            last_intervention_at=last_intervention,
            autonomous_minutes=max(0.0, (now - autonomy_from).total_seconds() / 60.0),
            heals=int(counts[1]),
            escalations=int(counts[2]),
        )

    def autonomous_minutes(self) -> float:
        """Minutes since the last manual intervention (or since the run first started)."""
        return self.status().autonomous_minutes

    def seconds_since_success(self) -> float:
        return self.status().seconds_since_success

    def is_stalled(self) -> bool:
        """True when no cycle has succeeded for more than ``stall_after_s`` (2 h)."""
        return self.status().stalled

    # -- attribution -------------------------------------------------------------------

    def attribute(
        self, conversion_id: str, cta_arm: str, page_id: str, *, tenant_id: str | None = None
    ) -> Attribution:
        """Record which CTA arm a conversion came from (see :class:`AttributionLedger`)."""
        return self._attribution.attribute(conversion_id, cta_arm, page_id, tenant_id=tenant_id)

    def attribution_totals(self, tenant_id: str | None = None) -> dict[str, int]:
        """Conversions per CTA arm."""
        return self._attribution.totals(tenant_id)


def _describe(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 1] + "…"
