"""A3, orchestration: autonomous runs in cycles, and attribution of conversions to CTAs.

A run (``POST /v1/runs``) executes its cycles in the background on the ``TargetClock``
(``domain.cycles``): every cycle reports ``run_progress`` and ends with
``orchestration_cycle_complete``; a cycle that fails is retried with backoff and, when a
retry succeeds, counted as auto-healed (``cycle_auto_healed``); one that fails every
attempt is escalated (``cycle_failed``). ``fail_attempts`` makes the first attempts of
every cycle fail on purpose, so the harness can watch the auto-heal. Run events carry the
trace id, tenant and tags of the request that started the run, and an idempotency key
naming the run, cycle, attempt and step (so A8's dedupe keeps each of them). Besides the requested
runs, A3 keeps one platform run ticking every ``AUTONOMOUS_INTERVAL_S`` (untagged, no
tenant), so orchestration telemetry flows even when nobody asks.

Interventions (``pause``, ``resume``, ``abort``, ``note``) are recorded as manual
(``manual_intervention``). Runs that were running when A3 stopped resume after a restart.

Time (contract §12) is A3's clock: a run's next cycle is due ``cycle_interval_ms`` after
the previous one started, on that clock, so moving the clock (``clock_offset_s``) crosses
hours in seconds of wall time, and a real soak simply waits. A run is ``running`` until it
ends as ``completed`` (every cycle done), ``failed`` (a cycle failed every attempt, or an
operator aborted it) or ``stalled``: no ``run_progress`` for its ``stall_limit_s`` (2 h by
default), which emits ``run_stalled``. Autonomous minutes run from the later of the start
and the last manual intervention to the end of the run (or now), and only while it runs.
Cycle events carry ``data``: ``run_progress`` {run_id, cycle, attempt, percent},
``orchestration_cycle_complete`` {run_id, cycle, attempts, healed}. Fault switches:
``cycle_auto_heal`` off fails a cycle at its first failed attempt, ``cycle_progress`` off
holds every cycle before its first progress (runs stall).

A3 depends on A4 (contract §13, "A3 under dependency faults"): every cycle attempt first
asks A4's ``/health`` (a probe: no trace id, so A4's ``error_503_fraction`` picks each call
afresh). A 5xx or no answer fails the attempt, which A3 retries like any other (up to
``MAX_ATTEMPTS``, full-jitter backoff): the cycle heals once A4 answers. A cycle that
failed every attempt *only* because A4 did not answer is escalated (``cycle_failed``) but
does not fail the run: the run goes on with its next cycle, without intervention.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from reftarget.apps.conversion_owners import ConversionOwners
from reftarget.apps.domain_errors import DOMAIN_ERROR_HANDLERS
from reftarget.core.app import AppDefinition, AppRuntime
from reftarget.core.auth import fetch_for_tenant
from reftarget.core.body import InvalidBody, int_field, json_object, text_field
from reftarget.core.clock import TargetClock
from reftarget.core.context import RequestContext, Tags, new_trace_id, request_context
from reftarget.core.db import app_db_path
from reftarget.core.openapi import Endpoint
from reftarget.core.settings import AppSettings
from reftarget.core.synthetic_identities import synthetic_identity_endpoints
from reftarget.domain import AttributionLedger, Backoff, CycleContext, CycleRunner, Database
from reftarget.domain.cycles import CycleResult
from reftarget.domain.records import Emitted

ROLE = "orchestration"
RUNS_ROUTE = "/v1/runs"
AUTONOMOUS_RUN = "a3-autonomous"
AUTONOMOUS_INTERVAL_S = 15.0
WORK_STEP_S = 0.05
POLL_S = 0.05  # how often the clock watch looks for a moved clock (and a stuck cycle)
CHECK_S = 1.0  # an idle run looks at its state and stall at least this often (real time)
STALL_LIMIT_S = 2 * 60 * 60  # §13: a run without progress for 2 h of its clock is stalled
MAX_CYCLES = 100
MAX_INTERVAL_MS = 3_600_000
ENDED_STATES = ("completed", "stalled", "failed")
INTERVENTIONS = ("pause", "resume", "abort", "note")
MAX_ATTEMPTS = 8  # a cycle's attempts with auto-heal on (1 with cycle_auto_heal off)
A4_PROBE_TIMEOUT_S = 2.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS a3_run_requests (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    goal TEXT NOT NULL,
    cycles INTEGER NOT NULL,
    cycle_interval_ms INTEGER NOT NULL,
    fail_attempts INTEGER NOT NULL,
    state TEXT NOT NULL
        CHECK (state IN ('running', 'paused', 'completed', 'stalled', 'failed')),
    trace_id TEXT NOT NULL,
    tags TEXT NOT NULL,
    created_at TEXT NOT NULL,
    stall_limit_s REAL NOT NULL DEFAULT 7200,
    last_progress_at TEXT,
    ended_at TEXT
);
"""


def event_key(emitted: Emitted) -> str:
    """The idempotency key of a cycle event: A8 keeps one event per (event, key, trace id),
    and every cycle, attempt and progress step of a run shares the run's trace id."""
    fields = emitted.fields
    parts = [fields["run"], fields["cycle"], fields.get("attempt"), fields.get("percent")]
    return "/".join(str(part) for part in parts if part is not None)


def cycle_data(emitted: Emitted) -> dict[str, Any]:
    """The ``data`` of a cycle event (§6: ``run_progress`` -> {run_id, cycle, percent})."""
    fields = emitted.fields
    data: dict[str, Any] = {"run_id": fields["run"], "cycle": fields["cycle"]}
    for name in ("attempt", "percent", "attempts", "healed"):
        if name in fields:
            data[name] = fields[name]
    return data


class ClockWatch:
    """Wakes idle runs when A3's clock is moved (``clock_offset_s``), so a moved clock is
    seen at once while each idle run wakes by itself only once a second or when due."""

    def __init__(self, clock: TargetClock) -> None:
        self.clock = clock
        self._offset = clock.offset_s
        self._moved = asyncio.Event()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(POLL_S)
            if self.clock.offset_s != self._offset:
                self._offset = self.clock.offset_s
                moved, self._moved = self._moved, asyncio.Event()
                moved.set()

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of real time, or less if the clock is moved meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._moved.wait(), timeout=seconds)


class InjectedCycleFailure(RuntimeError):
    """A cycle attempt that fails because the run asked for it (``fail_attempts``)."""


class DependencyUnavailable(RuntimeError):
    """A cycle attempt that fails because A4 answered 5xx or not at all."""


def only_dependency_failed(result: CycleResult) -> bool:
    """Whether every failed attempt of an escalated cycle was A4's fault, not the run's."""
    errors = result.escalation.errors if result.escalation is not None else ()
    return bool(errors) and all(e.startswith(DependencyUnavailable.__name__) for e in errors)


@dataclass(frozen=True)
class RunOrigin:
    """Who started a run: its events carry this trace id, tenant and tags."""

    trace_id: str
    tenant_id: str | None
    tags: Tags


class OrchestrationService:
    """The handlers and background cycle drivers of A3."""

    def __init__(self, settings: AppSettings, runtime: AppRuntime) -> None:
        self.runtime = runtime
        runtime.db.executescript(SCHEMA)
        self.store = Database(app_db_path(settings.state_dir, "A3"))
        self.attribution = AttributionLedger(self.store, runtime.clock)
        self.owners = ConversionOwners(self.store)
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.runners: dict[str, CycleRunner] = {}
        self.origins: dict[str, RunOrigin] = {}
        self.watch = ClockWatch(runtime.clock)
        self.a4_health_url = settings.topology.base_urls["A4"] + "/health"

    # -- cycles -----------------------------------------------------------------------

    def _emit(
        self, origin: RunOrigin, event: str, event_key: str, data: dict[str, Any] | None = None
    ) -> None:
        self.runtime.events.background(
            event,
            route=RUNS_ROUTE,
            trace_id=origin.trace_id,
            tags=origin.tags,
            tenant_id=origin.tenant_id,
            idempotency_key=event_key,
            data=data,
        )

    async def _progress_gate(self) -> None:
        """Fault ``cycle_progress`` off: the cycle makes no progress while it is off."""
        while not self.runtime.faults.rule_enabled("cycle_progress"):
            await asyncio.sleep(POLL_S)

    async def _consult_a4(self) -> None:
        """Raise :class:`DependencyUnavailable` unless A4 answers (see the module)."""
        try:
            answer = await self.runtime.http.get(self.a4_health_url, timeout=A4_PROBE_TIMEOUT_S)
        except httpx.HTTPError as error:
            raise DependencyUnavailable(f"A4 did not answer ({type(error).__name__})") from None
        if answer.status_code >= 500:
            raise DependencyUnavailable(f"A4 answered {answer.status_code}")

    def _runner(self, run_id: str, fail_attempts: int) -> CycleRunner:
        """The one runner of a run (a second one would mark its running cycle abandoned)."""
        runner = self.runners.get(run_id)
        if runner is not None:
            return runner

        async def work(ctx: CycleContext) -> None:
            await self._progress_gate()
            await asyncio.sleep(WORK_STEP_S)
            ctx.progress(50.0)
            if ctx.attempt <= fail_attempts:
                raise InjectedCycleFailure(f"attempt {ctx.attempt} failed as requested")
            await self._consult_a4()
            await asyncio.sleep(WORK_STEP_S)
            ctx.progress(100.0)

        def on_event(emitted: Emitted) -> None:
            if emitted.event_name == "run_progress":
                self.runtime.db.execute(
                    "UPDATE a3_run_requests SET last_progress_at = ? WHERE id = ?",
                    (emitted.at.isoformat(), run_id),
                )
            self._emit(
                self.origins[run_id], emitted.event_name, event_key(emitted), cycle_data(emitted)
            )

        runner = CycleRunner(
            self.runtime.clock,
            self.store,
            work,
            on_event,
            name=run_id,
            backoff=Backoff(0.05, 0.5),
        )
        self.runners[run_id] = runner
        return runner

    def _run_runner(self, row: Any) -> CycleRunner:
        self.origins[row["id"]] = RunOrigin(
            row["trace_id"], row["tenant_id"], Tags(**json.loads(row["tags"]))
        )
        return self._runner(row["id"], int(row["fail_attempts"]))

    def _after_cycle(self, run_id: str, origin: RunOrigin, result: CycleResult) -> None:
        data = {"run_id": run_id, "cycle": result.cycle, "attempts": result.attempts}
        if result.heal is not None:
            self._emit(origin, "cycle_auto_healed", f"{run_id}/{result.cycle}/healed", data)
        if result.escalation is not None:
            self._emit(origin, "cycle_failed", f"{run_id}/{result.cycle}/failed", data)

    def _state(self, run_id: str) -> str:
        row = self.runtime.db.execute(
            "SELECT state FROM a3_run_requests WHERE id = ?", (run_id,)
        ).fetchone()
        return str(row["state"])

    def _end(self, run_id: str, state: str) -> bool:
        """End a running (or paused) run as ``state``; False if it had ended already."""
        cursor = self.runtime.db.execute(
            "UPDATE a3_run_requests SET state = ?, ended_at = ?"
            " WHERE id = ? AND state IN ('running', 'paused')",
            (state, self.runtime.clock.now().isoformat(), run_id),
        )
        return cursor.rowcount == 1

    def _stall_due(self, run_id: str) -> bool:
        """Whether a running run has had no progress for longer than its stall limit."""
        row = self.runtime.db.execute(
            "SELECT state, created_at, last_progress_at, stall_limit_s FROM a3_run_requests"
            " WHERE id = ?",
            (run_id,),
        ).fetchone()
        if row["state"] != "running":
            return False
        since = datetime.fromisoformat(row["last_progress_at"] or row["created_at"])
        idle_s = (self.runtime.clock.now() - since).total_seconds()
        return idle_s > float(row["stall_limit_s"])

    def _stall(self, run_id: str, cycle: int) -> None:
        if not self._end(run_id, "stalled"):
            return
        row = self.runtime.db.execute(
            "SELECT last_progress_at, created_at, stall_limit_s FROM a3_run_requests WHERE id = ?",
            (run_id,),
        ).fetchone()
        data = {
            "run_id": run_id,
            "cycle": cycle,
            "last_progress_at": row["last_progress_at"] or row["created_at"],
            "stall_limit_s": row["stall_limit_s"],
        }
        self._emit(self.origins[run_id], "run_stalled", f"{run_id}/stalled", data)

    async def _cycle_unless_stalled(self, run_id: str, runner: CycleRunner) -> CycleResult | None:
        """The next cycle, or None when the run stalled while it ran (the cycle is cancelled)."""
        heals = self.runtime.faults.rule_enabled("cycle_auto_heal")
        runner.max_attempts = MAX_ATTEMPTS if heals else 1
        task = asyncio.create_task(runner.arun_cycle())
        while not task.done():
            await asyncio.wait({task}, timeout=POLL_S)
            if not task.done() and self._stall_due(run_id):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                self._stall(run_id, runner.status().next_cycle - 1)
                return None
        return task.result()

    async def _drive(self, row: Any) -> None:
        run_id = row["id"]
        runner = self._run_runner(row)
        interval_s = int(row["cycle_interval_ms"]) / 1000
        next_due = self.runtime.clock.time()
        while True:
            state = self._state(run_id)
            if state in ENDED_STATES:
                return
            status = runner.status()
            if status.cycles_succeeded + status.cycles_failed >= int(row["cycles"]):
                self._end(run_id, "completed")
                return
            if state == "running" and self.runtime.clock.time() >= next_due:
                next_due = self.runtime.clock.time() + interval_s
                result = await self._cycle_unless_stalled(run_id, runner)
                if result is None:
                    return
                self._after_cycle(run_id, self.origins[run_id], result)
                if result.escalation is not None and not only_dependency_failed(result):
                    self._end(run_id, "failed")
                    return
                continue
            if self._stall_due(run_id):
                self._stall(run_id, status.next_cycle)
                return
            await self.watch.sleep(min(CHECK_S, max(0.0, next_due - self.runtime.clock.time())))

    async def _drive_autonomous(self) -> None:
        tags = Tags(test_run=False, source=None, env=self.runtime.env)
        runner = self._runner(AUTONOMOUS_RUN, 0)
        while True:
            origin = self.origins[AUTONOMOUS_RUN] = RunOrigin(new_trace_id(), None, tags)
            self._after_cycle(AUTONOMOUS_RUN, origin, await runner.arun_cycle())
            await asyncio.sleep(AUTONOMOUS_INTERVAL_S)

    def _start_driver(self, row: Any) -> None:
        self.tasks[row["id"]] = asyncio.create_task(self._drive(row))

    async def start(self) -> None:
        self.tasks["clock-watch"] = asyncio.create_task(self.watch.run())
        self.tasks[AUTONOMOUS_RUN] = asyncio.create_task(self._drive_autonomous())
        for row in self.runtime.db.execute(
            "SELECT * FROM a3_run_requests WHERE state IN ('running', 'paused')"
        ).fetchall():
            self._start_driver(row)

    async def stop(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        for task in self.tasks.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- handlers ---------------------------------------------------------------------

    def _autonomous_minutes(self, row: Any, last_intervention: datetime | None) -> float:
        """Minutes the run has run on its own: from its start or its last manual
        intervention, whichever is later, to its end (or now); none while paused."""
        if row["state"] == "paused":
            return 0.0
        started = datetime.fromisoformat(row["created_at"])
        since = max(started, last_intervention) if last_intervention else started
        until = datetime.fromisoformat(row["ended_at"]) if row["ended_at"] else None
        elapsed = ((until or self.runtime.clock.now()) - since).total_seconds()
        return max(0.0, elapsed / 60.0)

    def _run_json(self, row: Any) -> dict[str, Any]:
        health = self._run_runner(row).status()
        return {
            "id": row["id"],
            "goal": row["goal"],
            "state": row["state"],
            "cycles_requested": row["cycles"],
            "cycles_completed": health.cycles_succeeded,
            "cycle_interval_ms": row["cycle_interval_ms"],
            "stall_limit_s": row["stall_limit_s"],
            "last_progress_at": row["last_progress_at"],
            "started_at": row["created_at"],
            "ended_at": row["ended_at"],
            "cycles_succeeded": health.cycles_succeeded,
            "cycles_failed": health.cycles_failed,
            "heals": health.heals,
            "escalations": health.escalations,
            "manual_interventions": health.manual_interventions,
            "last_success_at": None
            if health.last_success_at is None
            else health.last_success_at.isoformat(),
            "autonomous_minutes": round(
                self._autonomous_minutes(row, health.last_intervention_at), 3
            ),
            "stalled": row["state"] == "stalled",
            "trace_id": row["trace_id"],
            "created_at": row["created_at"],
        }

    def _own_run(self, context: RequestContext, run_id: str) -> Any:
        return fetch_for_tenant(
            self.runtime.db,
            "a3_run_requests",
            run_id,
            context.tenant_id,
            self.runtime.faults,
            resource="run",
        )

    async def create_run(self, request: Request) -> Response:
        context = request_context(request)
        body = await json_object(request)
        goal = text_field(body, "goal")
        cycles = int_field(body, "cycles", default=3, minimum=1, maximum=MAX_CYCLES)
        interval_ms = int_field(
            body, "cycle_interval_ms", default=200, minimum=0, maximum=MAX_INTERVAL_MS
        )
        fail_attempts = int_field(body, "fail_attempts", default=0, maximum=5)
        stall_limit_s = int_field(
            body, "stall_limit_s", default=STALL_LIMIT_S, minimum=1, maximum=7 * 86400
        )
        tenant_id, _ = context.principal()
        run_id = f"run_{uuid.uuid4().hex}"
        self.runtime.db.execute(
            "INSERT INTO a3_run_requests (id, tenant_id, goal, cycles, cycle_interval_ms,"
            " fail_attempts, state, trace_id, tags, created_at, stall_limit_s)"
            " VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)",
            (
                run_id,
                tenant_id,
                goal,
                cycles,
                interval_ms,
                fail_attempts,
                context.trace_id,
                json.dumps(context.tags.as_dict()),
                self.runtime.clock.now().isoformat(),
                stall_limit_s,
            ),
        )
        row = self._own_run(context, run_id)
        self._start_driver(row)
        return JSONResponse(
            self._run_json(row), status_code=201, headers={"Location": f"{RUNS_ROUTE}/{run_id}"}
        )

    async def get_run(self, request: Request) -> Response:
        row = self._own_run(request_context(request), request.path_params["run_id"])
        return JSONResponse(self._run_json(row))

    async def intervene(self, request: Request) -> Response:
        context = request_context(request)
        body = await json_object(request)
        action = text_field(body, "action", max_length=16)
        if action not in INTERVENTIONS:
            raise InvalidBody(f"action must be one of {list(INTERVENTIONS)}")
        reason = text_field(body, "reason", default=action)
        row = self._own_run(context, request.path_params["run_id"])
        _, subject = context.principal()
        self._run_runner(row).record_intervention(subject, f"{action}: {reason}")
        if action == "abort":
            self._end(row["id"], "failed")
        elif action in ("pause", "resume"):
            self.runtime.db.execute(
                "UPDATE a3_run_requests SET state = ?"
                " WHERE id = ? AND state IN ('running', 'paused')",
                ("paused" if action == "pause" else "running", row["id"]),
            )
        self.runtime.events.business(context, "manual_intervention")
        return JSONResponse(self._run_json(self._own_run(context, row["id"])))

    async def attribute(self, request: Request) -> Response:
        context = request_context(request)
        body = await json_object(request)
        tenant_id, subject = context.principal()
        conversion_id = text_field(body, "conversion_id")
        arm = text_field(body, "cta_arm", max_length=64)
        page_id = text_field(body, "page_id", max_length=64)
        if not self.runtime.faults.rule_enabled("attribution_mapping"):
            # The fault: acknowledged, but mapped to no arm (nothing recorded or emitted).
            unmapped = {"conversion_id": conversion_id, "cta_arm": None, "page_id": None}
            return JSONResponse(unmapped | {"attributed_at": None, "created": False}, 201)
        attribution = self.attribution.attribute(
            conversion_id, arm, page_id, tenant_id=tenant_id
        )
        if attribution.created:
            self.owners.record(conversion_id, tenant_id, subject)
            self.runtime.events.business(
                context,
                "conversion_attributed",
                status=201,
                data={"conversion_id": conversion_id, "page_id": page_id, "arm": arm},
            )
        return JSONResponse(
            {
                "conversion_id": attribution.conversion_id,
                "cta_arm": attribution.cta_arm,
                "page_id": attribution.page_id,
                "attributed_at": attribution.attributed_at.isoformat(),
                "created": attribution.created,
            },
            status_code=201 if attribution.created else 200,
        )

    async def attribution_totals(self, request: Request) -> Response:
        tenant_id, _ = request_context(request).principal()
        return JSONResponse({"totals": self.attribution.totals(tenant_id)})


def build(settings: AppSettings, runtime: AppRuntime) -> AppDefinition:
    service = OrchestrationService(settings, runtime)
    return AppDefinition(
        role=ROLE,
        endpoints=[
            Endpoint(
                "POST",
                RUNS_ROUTE,
                service.create_run,
                "Start an autonomous run of N cycles",
                success_status=201,
                request_example={
                    "goal": "weekly study plan",
                    "cycles": 3,
                    "cycle_interval_ms": 200,
                },
                request_schema={
                    "type": "object",
                    "required": ["goal"],
                    "properties": {
                        "goal": {"type": "string", "maxLength": 200},
                        "cycles": {"type": "integer", "minimum": 1, "maximum": MAX_CYCLES},
                        "cycle_interval_ms": {
                            "type": "integer",
                            "minimum": 0,
                            "maximum": MAX_INTERVAL_MS,
                        },
                        "fail_attempts": {"type": "integer", "minimum": 0, "maximum": 5},
                        "stall_limit_s": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": 7 * 86400,
                        },
                    },
                },
                emits=("run_progress", "orchestration_cycle_complete", "run_stalled"),
            ),
            Endpoint("GET", "/v1/runs/{run_id}", service.get_run, "A run's state and health"),
            Endpoint(
                "POST",
                "/v1/runs/{run_id}/interventions",
                service.intervene,
                "Manual intervention on a run (pause, resume, abort, note)",
                request_example={"action": "pause", "reason": "operator check"},
                request_schema={
                    "type": "object",
                    "required": ["action"],
                    "properties": {
                        "action": {"type": "string", "enum": list(INTERVENTIONS)},
                        "reason": {"type": "string", "maxLength": 200},
                    },
                },
                emits=("manual_intervention",),
            ),
            Endpoint(
                "POST",
                "/v1/attributions",
                service.attribute,
                "Attribute a conversion to the CTA arm and page it came from (once)",
                success_status=201,
                request_example={
                    "conversion_id": "chk_0123",
                    "cta_arm": "book_a_demo",
                    "page_id": "pg_0123",
                },
                request_schema={
                    "type": "object",
                    "required": ["conversion_id", "cta_arm", "page_id"],
                    "properties": {
                        "conversion_id": {"type": "string"},
                        "cta_arm": {"type": "string"},
                        "page_id": {"type": "string"},
                    },
                },
                emits=("conversion_attributed",),
                funnel_step="b2c.attribution",
            ),
            Endpoint(
                "GET", "/v1/attributions/totals", service.attribution_totals, "Conversions per arm"
            ),
            *synthetic_identity_endpoints(service.owners),
        ],
        exception_handlers=DOMAIN_ERROR_HANDLERS,
        on_startup=[service.start],
        on_shutdown=[service.stop],
    )
