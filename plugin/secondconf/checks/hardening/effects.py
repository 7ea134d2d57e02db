"""Side effects of the hardening run, counted in A8 (contract §6).

An effect is a business event (any event but ``http_request``) whose trace id a request
of the run used and whose idempotency key is that request's, or null; background work of
a resource (A3's cycles) carries keys of its own and is not counted. Before counting,
each app gets a *marker*, a GET with a sampled-in trace id, and the count waits (bounded by
the telemetry deadline) until A8 holds the marker's ``http_request``: an app's telemetry
reaches A8 in order, so what the app emitted before the marker is in A8 by then.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Final

import httpx

from secondconf.checks.hardening.model import CaseResult, EffectClaim, RouteState, new_trace
from secondconf.contract.traceids import TRACE_ID_HEADER
from secondconf.core.clock import Clock
from secondconf.target.a8 import A8Client, StoredEvent, TelemetryError
from secondconf.target.map import SystemMap

_POLL_S: Final = 0.25


async def count_effects(
    client: httpx.AsyncClient,
    system_map: SystemMap,
    a8: A8Client,
    states: Mapping[str, list[RouteState]],
    cases: list[CaseResult],
    clock: Clock,
    deadline_s: float,
) -> dict[str, dict[str, int] | None]:
    """Wait for every app's marker in A8, then judge each case's effect claims."""
    try:
        await asyncio.gather(
            *(await_marker(client, system_map, a8, app_id, clock, deadline_s) for app_id in states)
        )
    except TelemetryError as error:
        for case in cases:
            if case.claims:
                case.violate(None, f"side effects not countable: {error}")
        return {}
    traces = {trace for case in cases for claim in case.claims for trace, _ in claim.traces} | {
        s.baseline[0] for app in states.values() for s in app if s.baseline
    }
    events = await events_by_trace(a8, sorted(traces))
    by_route = {s.route.label: s for app in states.values() for s in app}
    baselines = {
        label: dict(business_effects(events, [s.baseline])) if s.baseline is not None else None
        for label, s in by_route.items()
    }
    for case in cases:
        route = by_route.get(case.route)
        for claim in case.claims:
            judge_claim(
                case,
                claim,
                events,
                baselines.get(case.route) or {},
                route.listed_once if route else None,
            )
            if claim.tenant is not None:
                judge_labels(case, claim, events, system_map.env)
        case.claims.clear()
    return baselines


async def await_marker(
    client: httpx.AsyncClient,
    system_map: SystemMap,
    a8: A8Client,
    app_id: str,
    clock: Clock,
    deadline_s: float,
) -> None:
    """Send ``app_id`` a GET with a sampled-in trace id and return once A8 holds its
    ``http_request`` (TelemetryError after ``deadline_s``): what the app emitted before
    is in A8 by then."""
    trace = new_trace()
    try:
        await client.get(system_map.apps[app_id].health_url, headers={TRACE_ID_HEADER: trace})
    except httpx.HTTPError as error:
        raise TelemetryError(f"{app_id} marker request failed ({type(error).__name__})") from None
    start = clock.monotonic()
    while True:
        events = await a8.events(trace_id=trace)
        if any(event.event == "http_request" for event in events):
            return
        if clock.monotonic() - start > deadline_s:
            raise TelemetryError(
                f"A8 did not receive {app_id}'s marker request within {deadline_s:g} s"
            )
        await asyncio.sleep(_POLL_S)


async def events_by_trace(a8: A8Client, traces: Sequence[str]) -> dict[str, list[StoredEvent]]:
    limit = asyncio.Semaphore(16)

    async def one(trace: str) -> tuple[str, list[StoredEvent]]:
        async with limit:
            return trace, await a8.events(trace_id=trace)

    return dict(await asyncio.gather(*(one(trace) for trace in traces)))


def business_effects(
    events: Mapping[str, list[StoredEvent]], traces: Sequence[tuple[str, str | None]]
) -> Counter[str]:
    """Business events, by name, caused by requests with these (trace, key) pairs."""
    return Counter(
        event.event
        for trace, key in traces
        for event in events.get(trace, ())
        if event.event != "http_request" and event.idempotency_key in (key, None)
    )


def judge_claim(
    case: CaseResult,
    claim: EffectClaim,
    events: Mapping[str, list[StoredEvent]],
    baseline: Mapping[str, int],
    listed_once: int | None,
) -> None:
    """Compare what ``claim``'s requests caused with ``executions`` executions.

    In A8 when one execution causes business events there (``baseline``, by name); else in
    the route's collection when one execution adds ``listed_once`` items there; else the
    effects are not observable (noted).
    None expected: there must be none. Otherwise no event name may come more often than
    that many executions cause (an event an execution may or may not cause, such as a
    bandit update, is allowed once per execution), and at least one must be there: an
    execution A8 cannot see is no evidence of a single one.
    """
    seen = business_effects(events, claim.traces)
    if claim.executions == 0 and seen:
        case.violate(None, f"{claim.what}: caused {_counts(seen)} in A8, expected nothing")
        return
    if not baseline:
        _judge_listing(case, claim, listed_once)
        return
    if claim.executions == 0:
        return
    extra = {
        name: count
        for name, count in seen.items()
        if count > claim.executions * max(baseline.get(name, 0), 1)
    }
    if extra:
        case.violate(
            None,
            f"{claim.what}: {_counts(seen)} in A8, more than {claim.executions} execution(s) "
            f"cause (one causes {_counts(baseline)})",
        )
    elif not seen:
        case.violate(None, f"{claim.what}: none of its events reached A8")


def _judge_listing(case: CaseResult, claim: EffectClaim, once: int | None) -> None:
    """The claim judged on the route's collection (one execution lists ``once`` items)."""
    if not once or claim.listed is None:
        case.notes.append(
            f"{claim.what}: side effects not observable (one execution causes no business "
            "event in A8 and lists nothing readable); judged on the answers only"
        )
        return
    expected = claim.executions * once
    if claim.listed != expected:
        case.violate(
            None,
            f"{claim.what}: the collection lists {claim.listed} item(s) made by these "
            f"requests, expected {expected} ({claim.executions} execution(s))",
        )


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{count} {name}" for name, count in sorted(counts.items())) or "nothing"


def judge_labels(
    case: CaseResult, claim: EffectClaim, events: Mapping[str, list[StoredEvent]], env: str
) -> None:
    """Every business event of the claim's traces is tagged synthetic (contract §5)."""
    expected_tags = {"test_run": True, "source": "qa", "env": env}
    for trace, key in claim.traces:
        for event in events.get(trace, ()):
            if event.event == "http_request" or event.idempotency_key not in (key, None):
                continue
            tags = {name: event.tags.get(name) for name in expected_tags}
            if tags != expected_tags:
                case.violate(
                    None, f"{claim.what}: {event.event} tagged {tags}, not {expected_tags}"
                )
            if event.tenant_id is not None and event.tenant_id != claim.tenant:
                case.violate(
                    None,
                    f"{claim.what}: {event.event} names tenant {event.tenant_id!r}, "
                    f"not the synthetic identity's {claim.tenant!r}",
                )
