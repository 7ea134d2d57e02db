"""Phase 5: the activation and growth scenario, played once against the target.

What it does, each step under a trace id the harness chose (so it knows what A8 must hold):

1. activates the synthetic student twice (A5 ``POST /v1/activations``);
2. spends credits on one unit of A4 work (A5 ``POST /v1/credits/spend``), reading the
   balance before it (granting credits first if it is short) and taking the balance A5
   answers with the spend as the one after;
3. builds a page with a bandit of its own, publishes it, and publishes it again (A7);
4. views the page a few times (each view must emit ``cta_emitted``);
5. reports impressions under trace ids sampled out at 10 %, then sampled in (§6);
6. waits (bounded) for A8 to hold what the traces must hold, then reads A8's activation
   dashboard for each trace until every held event is on its tile.

Traces whose events must *not* arrive (the second activation, the second publish) are
sampled in, so their own ``http_request`` marks when A8 has everything of that request.
The judging lives in :mod:`secondconf.checks.activation.judge`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import httpx

from secondconf.contract.traceids import (
    HIGH_VOLUME_RATE,
    TRACE_ID_HEADER,
    new_idempotency_key,
    new_sampled_in_trace_id,
    new_trace_id,
    sampling_threshold,
)
from secondconf.core.clock import Clock
from secondconf.target.a8 import A8Client, StoredEvent, TelemetryError
from secondconf.target.client import synthetic_headers
from secondconf.target.growth import GrowthClient, GrowthError, Page
from secondconf.target.identity import AccessToken
from secondconf.target.map import SystemMap
from secondconf.target.trace_events import POLL_S, wait_for_trace_events

STUDENT_APP: Final = "A5"
WORK_KIND: Final = "explain"
SPEND_FLOAT: Final = 1000  # credits granted first when the balance is below this
# The balance read before a spend and the one A5 answers with it differ by more than the
# debit only when another spend of the same student fell in between (a concurrent check):
# then the spend is measured again, at most this often.
SPEND_ATTEMPTS: Final = 3
VIEWS: Final = 4
IMPRESSIONS_PER_SIDE: Final = 3
TILE_EVENTS: Final = (
    "activation_first_use",
    "credit_decrement",
    "page_build_requested",
    "page_published",
    "cta_emitted",
    "cta_impression",
)
MARKER: Final = "http_request"  # sampled in: shows A8 has everything of that request


def new_sampled_out_trace_id() -> str:
    """A trace id §6's sampler drops at 10 % (its low 64 bits at or above the threshold)."""
    while True:
        trace = new_trace_id()
        if int(trace[16:], 16) >= sampling_threshold(HIGH_VOLUME_RATE):
            return trace


@dataclass
class Answer:
    """One request of the scenario: its trace, status and JSON body (None if not JSON)."""

    step: str
    trace_id: str
    status: int | None
    body: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "trace_id": self.trace_id, "status": self.status}


@dataclass
class ActivationRun:
    """Everything the scenario saw: answers, A8's events per trace, tile sightings."""

    started_at: datetime
    answers: dict[str, Answer] = field(default_factory=dict)
    balance_before: int | None = None
    balance_after: int | None = None
    page: Page | None = None
    views: list[tuple[str, str]] = field(default_factory=list)  # (trace, arm shown)
    sampled_in: list[str] = field(default_factory=list)  # impression traces kept at 10 %
    sampled_out: list[str] = field(default_factory=list)
    events: dict[str, list[StoredEvent]] = field(default_factory=dict)
    sent_at: dict[str, datetime] = field(default_factory=dict)  # trace -> request sent
    tiles: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # trace->tile
    tile_seen_at: dict[str, datetime] = field(default_factory=dict)  # trace -> all shown
    problems: list[str] = field(default_factory=list)  # what could not be exercised

    def held(self, trace_id: str, name: str) -> list[StoredEvent]:
        return [e for e in self.events.get(trace_id, []) if e.event == name]


class _Student:
    """A5 as the synthetic student: activation, credits, spends."""

    def __init__(self, client: httpx.AsyncClient, system_map: SystemMap, token: AccessToken):
        self._client = client
        self._base = system_map.apps[STUDENT_APP].base_url
        self._token = token

    async def send(
        self, step: str, method: str, path: str, trace: str, body: Mapping[str, Any] | None
    ) -> Answer:
        key = new_idempotency_key() if body is not None else None
        headers = synthetic_headers(self._token.subject, idempotency_key=key)
        headers |= self._token.authorization | {TRACE_ID_HEADER: trace}
        try:
            answer = await self._client.request(
                method, self._base + path, json=body, headers=headers
            )
        except httpx.HTTPError as error:
            return Answer(step, trace, None, f"unreachable ({type(error).__name__})")
        try:
            parsed = answer.json()
        except ValueError:
            parsed = None
        return Answer(step, trace, answer.status_code, parsed)

    async def balance(self, trace: str) -> int | None:
        answer = await self.send("balance", "GET", "/v1/credits", trace, None)
        body = answer.body
        if answer.status == 200 and isinstance(body, dict):
            value = body.get("balance")
            return value if isinstance(value, int) else None
        return None


async def run_activation(
    client: httpx.AsyncClient,
    system_map: SystemMap,
    a8: A8Client,
    token: AccessToken,
    clock: Clock,
    *,
    deadline_s: float,
) -> ActivationRun:
    """Play the scenario (see the module docstring) and collect what A8 holds."""
    run = ActivationRun(started_at=clock.now())
    student = _Student(client, system_map, token)
    growth = GrowthClient(client, system_map, token)
    expected: dict[str, set[str]] = {}

    async def send(step: str, method: str, path: str, body: Mapping[str, Any] | None) -> Answer:
        trace = new_sampled_in_trace_id(HIGH_VOLUME_RATE)
        run.sent_at[trace] = clock.now()
        answer = await student.send(step, method, path, trace, body)
        run.answers[step] = answer
        return answer

    first = await send("activate_1", "POST", "/v1/activations", {})
    second = await send("activate_2", "POST", "/v1/activations", {})
    first_use = isinstance(first.body, dict) and first.body.get("first_use") is True
    expected[first.trace_id] = {"activation_first_use" if first_use else MARKER}
    expected[second.trace_id] = {MARKER}

    balance = await student.balance(new_trace_id())
    if balance is not None and balance < SPEND_FLOAT:
        await send("grant", "POST", "/v1/credits/grants", {"credits": SPEND_FLOAT})
    for _ in range(SPEND_ATTEMPTS):
        run.balance_before = await student.balance(new_trace_id())
        spend = await send("spend", "POST", "/v1/credits/spend", {"kind": WORK_KIND, "units": 1})
        expected[spend.trace_id] = {"credit_decrement" if spend.status == 201 else MARKER}
        body = spend.body if isinstance(spend.body, dict) else {}
        run.balance_after = body.get("balance") if isinstance(body.get("balance"), int) else None
        debited = body.get("credits")
        if run.balance_after is None or run.balance_before is None:
            break
        if run.balance_before - run.balance_after == debited:
            break  # else another spend of this student fell in between: measure again

    try:
        await _growth_steps(run, growth, clock, expected)
    except GrowthError as error:
        run.problems.append(str(error))
    try:
        run.events = await wait_for_trace_events(a8, expected, clock, deadline_s)
        await _read_tiles(run, a8, clock, deadline_s)
    except TelemetryError as error:
        run.problems.append(str(error))
    return run


async def _growth_steps(
    run: ActivationRun, growth: GrowthClient, clock: Clock, expected: dict[str, set[str]]
) -> None:
    def trace(step: str, *, sampled_in: bool = True) -> str:
        chosen = new_sampled_in_trace_id(HIGH_VOLUME_RATE) if sampled_in else None
        chosen = chosen or new_sampled_out_trace_id()
        run.sent_at[chosen] = clock.now()
        run.answers[step] = Answer(step, chosen, None)
        return chosen

    build = trace("build")
    page_id, slug = await growth.build_page(build)
    run.answers["build"].status = 201
    expected[build] = {"page_build_requested"}
    for step in ("publish", "publish_again"):  # GrowthClient answers only a 200 here
        chosen = trace(step)
        changed = await growth.publish(page_id, chosen)
        run.answers[step].status, run.answers[step].body = 200, {"changed": changed}
        expected[chosen] = {"page_published" if step == "publish" else MARKER}
    run.page = Page(page_id, slug)

    for n in range(VIEWS):
        view = await growth.view(run.page, trace(f"view_{n}"))
        run.views.append((view.trace_id, view.arm))
        expected[view.trace_id] = {MARKER}
    arm = run.views[0][1]
    for side, sampled_in in (("out", False), ("in", True)):  # sampled out first (ordering)
        for n in range(IMPRESSIONS_PER_SIDE):
            chosen = trace(f"impression_{side}_{n}", sampled_in=sampled_in)
            await growth.impression(run.page, arm, {"page_view": 1}, chosen)
            (run.sampled_in if sampled_in else run.sampled_out).append(chosen)
            expected[chosen] = {"cta_impression"} if sampled_in else set()


def _tile_events(tiles: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(t["tile"]): t for t in tiles}


def _shown(tiles: Mapping[str, Mapping[str, Any]], event: StoredEvent) -> bool:
    listed = tiles.get(event.event, {}).get("events")
    if not isinstance(listed, list):
        return False
    return any(isinstance(i, dict) and i.get("trace_id") == event.trace_id for i in listed)


async def _read_tiles(run: ActivationRun, a8: A8Client, clock: Clock, deadline_s: float) -> None:
    """Read the activation dashboard for every trace holding a tile's event, until each
    such event is listed on its tile (or the deadline)."""
    deadline = clock.monotonic() + deadline_s
    pending = {
        trace: [e for e in events if e.event in TILE_EVENTS] for trace, events in run.events.items()
    }
    pending = {trace: events for trace, events in pending.items() if events}
    while pending:
        for trace in list(pending):
            answer = await a8.dashboard("activation", trace_id=trace)
            tiles = answer.get("tiles")
            if not isinstance(tiles, list) or not all(
                isinstance(t, dict) and "tile" in t for t in tiles
            ):
                raise TelemetryError("A8 /v1/dashboards/activation: tiles are not a list of tiles")
            run.tiles[trace] = _tile_events(tiles)
            if all(_shown(run.tiles[trace], e) for e in pending[trace]):
                run.tile_seen_at[trace] = clock.now()
                del pending[trace]
        if not pending or clock.monotonic() >= deadline:
            return
        await asyncio.sleep(POLL_S)
