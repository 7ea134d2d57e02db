"""One B2C phase: n journeys in parallel browser contexts, their tiles, the money, cleanup.

Order: read the revenue tiles; delete leftovers of the run's identities (so each
``activation_first_use`` is a first); walk every journey (first attempts in parallel, each
followed by its own tile watch); retry each failed journey once with a new trace (a retry
that passes marks the journey flaky, never a success); wait for the run's settlements on the
revenue-lineage dashboard and read the tiles again; retrieve each PaymentIntent from Stripe;
probe the funnel routes without the §4 headers; and, whatever happened before (an error, a
cancelled run), delete every identity the run created and prove it.

Against ``prod_observe`` the run is ``named``: one journey per named synthetic identity,
no retry, no rate, no deletion (those identities persist; the run creates none).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import httpx

from secondconf.checks.funnels import journey as journeys
from secondconf.checks.funnels.cleanup import delete_identities
from secondconf.checks.funnels.model import (
    STEP_EVENTS,
    Cleanup,
    FunnelRun,
    Journey,
    PaymentCheck,
    StepResult,
)
from secondconf.checks.funnels.progress import JourneyTally
from secondconf.checks.funnels.stripe import retrieve_payment
from secondconf.checks.funnels.tiles import TileWatch, lineage_items
from secondconf.contract.platform import SyntheticIdentity
from secondconf.contract.traceids import new_sampled_in_trace_id, sample_rate_for
from secondconf.core.clock import Clock, utc_iso
from secondconf.core.progress import ProgressThrottle
from secondconf.core.secret import Secret
from secondconf.target.a8 import A8Client, TelemetryError
from secondconf.target.client import NO_TRACE_ID
from secondconf.target.identity import TokenError, fetch_token
from secondconf.target.map import OPENAPI_PATH, SystemMap

if TYPE_CHECKING:
    from playwright.async_api import Browser

FIRST_NN: Final = 10  # test_student_e2e_01..09 are left to the other checks (01 is named)
LAST_NN: Final = 99
MUTATIONS: Final = ("post", "put", "patch", "delete")


class FunnelError(Exception):
    """The run cannot start (a bad plan, a map without the funnel's pages): one line."""


@dataclass(frozen=True)
class FunnelPlan:
    """How many journeys, how many at once, and the deadlines (contract §10: 60 s tiles)."""

    journeys: int = 35
    concurrency: int = 6
    retry: bool = True
    tile_deadline_s: float = 60.0
    poll_interval_s: float = 0.5  # per journey; the tile latency's resolution
    step_timeout_s: float = 20.0
    named: bool = False  # prod_observe: the named identities, one journey each
    evidence_dir: Path | None = None  # where a failing journey's trace and screenshot go


@dataclass(frozen=True)
class FunnelSecrets:
    """The run's credentials, by name (never printed)."""

    a8_key: Secret
    client_secret: Secret  # the QA client's, for A1 tokens (cleanup)
    password: Secret  # the synthetic identities' (browser_login.password_env)
    stripe_key: Secret | None  # STRIPE_SECRET_KEY; None: reconciliation is untested


def usernames(plan: FunnelPlan) -> list[str]:
    """The identities the run signs up: the NN namespace from 10, or the named ones."""
    if plan.named:
        return [SyntheticIdentity.STUDENT.value, SyntheticIdentity.PROVIDER.value]
    if not 1 <= plan.journeys <= LAST_NN - FIRST_NN + 1:
        raise FunnelError(
            f"journeys must be 1..{LAST_NN - FIRST_NN + 1} (test_student_e2e_{FIRST_NN}.."
            f"{LAST_NN}), got {plan.journeys}"
        )
    return [f"test_student_e2e_{nn:02d}" for nn in range(FIRST_NN, FIRST_NN + plan.journeys)]


def journey_trace_id() -> str:
    """A trace id A8 keeps every event of (cta_impression is sampled at 10 %, contract §6)."""
    return new_sampled_in_trace_id(sample_rate_for("cta_impression", 200))


async def run_funnel(
    client: httpx.AsyncClient,
    system_map: SystemMap,
    secrets: FunnelSecrets,
    plan: FunnelPlan,
    clock: Clock,
    progress: ProgressThrottle | None = None,
) -> FunnelRun:
    """The whole phase; raises :class:`FunnelError` only before anything is sent.
    ``progress`` gets a line at least every 10 s while journeys run."""
    from secondconf.target.browser import open_browser

    try:
        journeys.JourneyPages.of(system_map)
    except (KeyError, ValueError) as error:
        raise FunnelError(str(error)) from None
    names = usernames(plan)
    a8 = A8Client(client, system_map, secrets.a8_key)
    started_at, start = utc_iso(clock.now()), clock.monotonic()
    problems: list[str] = []
    walked: list[Journey] = []
    created = [] if plan.named else names
    cleanup: list[Cleanup] = []
    before: Mapping[str, Any] = {}
    after: Mapping[str, Any] = {}
    lineage: list[dict[str, Any]] = []
    payments: list[PaymentCheck] = []
    probes: list[dict[str, Any]] = []
    phases: dict[str, float] = {}
    mark = clock.monotonic()

    def lap(name: str) -> None:
        nonlocal mark
        now = clock.monotonic()
        phases[name] = round(now - mark, 3)
        mark = now

    try:
        if created:
            await delete_identities(client, system_map, secrets.client_secret, created)
        before = await _revenue(a8, problems)
        lap("prepare")
        async with open_browser(system_map) as browser:
            lap("browser_start")
            walk = _Walker(browser, system_map, a8, secrets.password, plan, clock)
            firsts = await walk.all(
                [(i, 1, name) for i, name in enumerate(names)], "B2C journeys", progress
            )
            walked.extend(firsts)
            lap("journeys")
            failed = [j for j in firsts if not _journey_passed(j)]
            if plan.retry and not plan.named and failed:
                await delete_identities(
                    client, system_map, secrets.client_secret, [j.username for j in failed]
                )
                retried = [(j.index, 2, j.username) for j in failed]
                walked.extend(await walk.all(retried, "B2C retries", progress))
            lap("retries")
        after, lineage = await _settlements(a8, walked, plan, clock, problems)
        lap("settlements")
        payments = await _reconcile(client, system_map, secrets.stripe_key, walked, lineage)
        probes = await _probe_headers(client, system_map, secrets.client_secret, problems)
        lap("stripe_and_probes")
    finally:
        if created:
            cleanup = await delete_identities(client, system_map, secrets.client_secret, created)
            lap("cleanup")
    return FunnelRun(
        mode="named" if plan.named else "rate",
        started_at=started_at,
        wall_time_s=clock.monotonic() - start,
        tile_deadline_s=plan.tile_deadline_s,
        journeys=tuple(walked),
        revenue_before=before,
        revenue_after=after,
        lineage=tuple(lineage),
        payments=tuple(payments),
        header_probes=tuple(probes),
        cleanup=tuple(cleanup),
        problems=tuple(problems),
        phases_s=phases,
    )


def _journey_passed(journey: Journey) -> bool:
    """Every step answered and A8 showed each within the deadline (contract §10)."""
    return journey.ok and all(v is not None for v in journey.tile_latency_s.values())


@dataclass
class _Walker:
    browser: Browser
    system_map: SystemMap
    a8: A8Client
    password: Secret
    plan: FunnelPlan
    clock: Clock

    async def all(
        self,
        todo: Sequence[tuple[int, int, str]],
        phase: str,
        progress: ProgressThrottle | None,
    ) -> list[Journey]:
        gate = asyncio.Semaphore(self.plan.concurrency)
        tally = JourneyTally(phase, len(todo), self.clock, progress)

        async def one(index: int, attempt: int, username: str) -> Journey:
            trace_id = journey_trace_id()
            watch = TileWatch(
                self.a8, trace_id, self.clock, poll_interval_s=self.plan.poll_interval_s
            )
            async with gate:
                walked_out = asyncio.Event()
                polling = asyncio.create_task(watch.while_walking(walked_out))
                try:
                    walked = await journeys.walk(
                        self.browser,
                        self.system_map,
                        index=index,
                        attempt=attempt,
                        username=username,
                        trace_id=trace_id,
                        password=self.password,
                        clock=self.clock,
                        timeout_s=self.plan.step_timeout_s,
                        evidence_dir=self.plan.evidence_dir,
                    )
                finally:
                    walked_out.set()
                    await polling  # its request in flight ends; nothing is cancelled
            settled = await self.settle(walked, watch)  # outside the gate: no browser held
            tally.record(_journey_passed(settled))
            return settled

        async with tally.ticking():
            return list(await asyncio.gather(*(one(*item) for item in todo)))

    async def settle(self, journey: Journey, watch: TileWatch) -> Journey:
        """The journey's tile latencies, and its attribution step (only A8 can show it)."""
        times = {s.step: s.at for s in journey.steps if s.ok and s.at is not None}
        if self.plan.named:
            # A named identity persists: its activation_first_use was emitted on its very
            # first activation (once per user), so no later journey can show it again.
            times.pop("b2c.activation", None)
        activation = journey.step("b2c.activation")
        if activation is not None and activation.ok and activation.at is not None:
            times["b2c.attribution"] = activation.at  # A3 attributes inside A5's callback
        latency, seen = await watch.settle(times, deadline_s=self.plan.tile_deadline_s)
        journey = dataclasses.replace(journey, tile_latency_s=latency, tile_events=seen)
        if activation is None or not activation.ok:
            return journey
        attributed = await self._attribution(journey, activation)
        steps = [*journey.steps]
        steps.insert(3, attributed)
        return dataclasses.replace(journey, steps=tuple(steps))

    async def _attribution(self, journey: Journey, activation: StepResult) -> StepResult:
        """A3's ``conversion_attributed`` for the trace, naming the CTA's page and arm."""
        name = STEP_EVENTS["b2c.attribution"][1]
        try:
            raw = await self.a8.raw_events(trace_id=journey.trace_id, event=name)
        except TelemetryError as error:
            return StepResult("b2c.attribution", False, detail=str(error))
        if not raw.items:
            return StepResult("b2c.attribution", False, detail=f"A8 holds no {name} for the trace")
        data = raw.items[0].get("data") or {}
        got = (data.get("page_id"), data.get("arm"))
        if got != (journey.page_id, journey.arm):
            return StepResult(
                "b2c.attribution",
                False,
                detail=f"{name} names page/arm {got}, the CTA was {(journey.page_id, journey.arm)}",
            )
        return StepResult("b2c.attribution", True, activation.latency_s, activation.at, 200)


async def _revenue(a8: A8Client, problems: list[str]) -> dict[str, Any]:
    try:
        return {"answer": await a8.dashboard("revenue-lineage")}
    except TelemetryError as error:
        problems.append(f"revenue-lineage: {error}")
        return {}


async def _settlements(
    a8: A8Client, walked: Sequence[Journey], plan: FunnelPlan, clock: Clock, problems: list[str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The revenue tiles once every paid journey's settlement is on them (or the deadline)."""
    paid = {j.trace_id for j in walked if j.payment_intent and j.checkout_status == "succeeded"}
    deadline = clock.monotonic() + plan.tile_deadline_s
    while True:
        answer = await _revenue(a8, problems)
        items = lineage_items(answer.get("answer") or {}, paid)
        if {i["trace_id"] for i in items} >= paid or clock.monotonic() >= deadline:
            return answer, items
        await asyncio.sleep(plan.poll_interval_s)


async def _reconcile(
    client: httpx.AsyncClient,
    system_map: SystemMap,
    key: Secret | None,
    walked: Sequence[Journey],
    lineage: Sequence[Mapping[str, Any]],
) -> list[PaymentCheck]:
    if key is None:
        return []
    settled = {i["trace_id"]: i.get("gross_cents") for i in lineage if i.get("counted", True)}
    paid = [j for j in walked if j.payment_intent]
    return list(
        await asyncio.gather(
            *(
                retrieve_payment(
                    client,
                    system_map,
                    key,
                    j.payment_intent or "",
                    j.trace_id,
                    settled.get(j.trace_id),
                )
                for j in paid
            )
        )
    )


async def _probe_headers(
    client: httpx.AsyncClient, system_map: SystemMap, client_secret: Secret, problems: list[str]
) -> list[dict[str, Any]]:
    """Each B2C funnel mutation (``x-funnel-step``) sent without X-Idempotency-Key and
    X-Trace-Id, as the named student (a valid token, so only the headers are missing):
    contract §4 says 428, and nothing happens."""
    probes: list[dict[str, Any]] = []
    auth: dict[str, str] = {}
    try:
        auth = (
            await fetch_token(client, system_map, client_secret, SyntheticIdentity.STUDENT.value)
        ).authorization
    except TokenError as error:
        problems.append(f"header probes without a token: {error}")
    for app_id, entry in system_map.apps.items():
        try:
            document = (await client.get(entry.base_url + OPENAPI_PATH)).json()
        except (httpx.HTTPError, ValueError):
            problems.append(f"{app_id}: no OpenAPI document to find its funnel routes")
            continue
        for path, operations in (document.get("paths") or {}).items():
            for method, operation in (operations or {}).items():
                step = operation.get("x-funnel-step") if isinstance(operation, dict) else None
                if method not in MUTATIONS or not str(step or "").startswith("b2c."):
                    continue
                if operation.get("x-contract-rules") is False:
                    continue
                url = entry.base_url + path.replace("{", "probe-").replace("}", "")
                try:
                    answer = await client.request(
                        method.upper(),
                        url,
                        json={},
                        headers={**auth, "X-Test-Run": "true", "X-Source": "qa"},
                        extensions={NO_TRACE_ID: True},
                    )
                    status: int | None = answer.status_code
                except httpx.HTTPError:
                    status = None
                probes.append(
                    {
                        "app": app_id,
                        "route": f"{method.upper()} {path}",
                        "step": step,
                        "without": "X-Idempotency-Key, X-Trace-Id",
                        "status": status,
                    }
                )
    return probes
