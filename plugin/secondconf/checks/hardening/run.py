"""The hardening run: every covered route of every app put through the §4 rule cases once.

One run serves every rule check of the session (like the liveness run): it is measured
once, its cases are judged rule by rule (:mod:`secondconf.checks.hardening.rules`), and the
report lists every request it sent. Its steps:

1. **Discovery.** Each app's OpenAPI document gives its covered routes
   (:mod:`secondconf.target.routes`).
2. **Warm-up.** Each covered route is sent its example once per tenant (a fresh key),
   in passes, so that a route that needs another to have run first (register before
   billing, publish before an impression) gets its chance; a route that never succeeds
   is untested, with the answer it gave.
3. **Baseline.** One more fresh request per route: what it causes in A8 is what one
   execution causes from now on (a first use may cause more the first time).
4. **Cases** (:mod:`secondconf.checks.hardening.cases`), apps in parallel, routes of one app
   in turn. Immediate facts (status, headers, body) are judged at once; side effects
   are *claims* on the business events some traces caused.
5. **Reads.** Each parameterised GET is asked once with ids of resources the run made,
   so what reads emit (a landing page's ``cta_emitted``) is in A8 too.
6. **Effects** (:mod:`secondconf.checks.hardening.effects`): the claims are counted in A8.

Every trace id the run sends is sampled in at the lowest rate (0.1), so A8 must keep
every event it causes. How a case sends on its route is the driver's
(:mod:`secondconf.checks.hardening.driver`); this module orchestrates.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Final

import httpx

from secondconf.checks.hardening.driver import CaseFunction, RouteDriver, RunContext
from secondconf.checks.hardening.effects import count_effects
from secondconf.checks.hardening.model import (
    HOME,
    OTHER,
    AppCoverage,
    CaseResult,
    HardeningRun,
    RequestSpec,
    RouteNote,
    RouteState,
    is_success,
    new_trace,
)
from secondconf.contract.platform import SyntheticIdentity
from secondconf.contract.traceids import TRACE_ID_HEADER
from secondconf.core.clock import Clock, utc_iso
from secondconf.core.secret import Secret
from secondconf.target.a8 import A8Client
from secondconf.target.client import synthetic_headers
from secondconf.target.identity import TokenError, fetch_token
from secondconf.target.json_answer import json_body
from secondconf.target.map import OPENAPI_PATH, SystemMap
from secondconf.target.routes import (
    AppRoutes,
    ExemptRoute,
    discover_routes,
    fill_template,
    template_params,
)

WARM_UP_PASSES: Final = 3


class HardeningError(Exception):
    """The run could not start (no tokens, no A8): one line says why."""


async def run_hardening(
    client: httpx.AsyncClient,
    system_map: SystemMap,
    a8: A8Client,
    client_secret: Secret,
    cases: Sequence[tuple[str, CaseFunction]],
    clock: Clock,
    *,
    telemetry_deadline_s: float,
) -> HardeningRun:
    """Discover, warm up, run ``cases`` on every ready route, and count the effects."""
    started = clock.now()
    try:
        tokens = {
            str(identity): await fetch_token(client, system_map, client_secret, str(identity))
            for identity in SyntheticIdentity
        }
    except TokenError as error:
        raise HardeningError(str(error)) from None
    run = RunContext(client, system_map, tokens, a8)
    discovered = await asyncio.gather(*(_discover(client, system_map, a) for a in system_map.apps))
    apps = {routes.app_id: routes for routes in discovered if isinstance(routes, AppRoutes)}
    problems = [p for p in discovered if isinstance(p, str)]
    run.routes.update(
        {(r.app_id, r.template): r for routes in apps.values() for r in routes.covered}
    )
    run.readers.update({app_id: routes.readers for app_id, routes in apps.items()})
    states = {
        app_id: await_list
        for app_id, await_list in zip(
            apps,
            await asyncio.gather(*(_warm_up(run, routes) for routes in apps.values())),
            strict=True,
        )
    }
    results = await asyncio.gather(
        *(_run_cases(run, app_states, cases) for app_states in states.values())
    )
    all_cases = [case for app_cases in results for case in app_cases]
    await asyncio.gather(*(_exercise_reads(run, routes) for routes in apps.values()))
    baselines = await count_effects(
        client, system_map, a8, states, all_cases, clock, telemetry_deadline_s
    )
    return HardeningRun(
        started_at=utc_iso(started),
        ended_at=utc_iso(clock.now()),
        env=system_map.env,
        apps={app_id: _app_summary(apps[app_id], states[app_id]) for app_id in apps},
        cases=all_cases,
        baselines=baselines,
        walkable=[
            s.route.label
            for app in states.values()
            for s in app
            if s.route.method == "POST" and not s.route.path_params and not s.route.references
        ],
        baseline_ms={
            s.route.label: round(s.baseline_ms, 3)
            for app in states.values()
            for s in app
            if s.baseline_ms is not None
        },
        problems=problems,
    )


async def _discover(
    client: httpx.AsyncClient, system_map: SystemMap, app_id: str
) -> AppRoutes | str:
    url = system_map.apps[app_id].base_url + OPENAPI_PATH
    try:
        answer = await client.get(url)
    except httpx.HTTPError as error:
        return f"{app_id}: {url} did not answer ({type(error).__name__}); its routes are untested"
    document = json_body(answer) if answer.status_code == 200 else None
    if not isinstance(document, dict):
        return f"{app_id}: no OpenAPI document at {url} ({answer.status_code}); routes untested"
    return discover_routes(
        app_id,
        document,
        identity_app=system_map.identity_app_id,
        telemetry_app=system_map.telemetry_app_id,
    )


async def _warm_up(run: RunContext, routes: AppRoutes) -> list[RouteState]:
    """Each covered route's example, once per tenant, in passes (see the module doc)."""
    states = [RouteState(route) for route in routes.covered]
    for side in (HOME, OTHER):
        pending = list(states)
        last: dict[str, str] = {}
        for _ in range(WARM_UP_PASSES):
            still: list[RouteState] = []
            for state in pending:
                case = CaseResult("warm-up", state.route.app_id, state.route.label)
                driver = RouteDriver(run, state.route, case)
                spec = await driver.fresh(side)
                answer = None
                if spec is not None:
                    _, answer = await driver.send(spec, f"warm-up ({side} tenant)", side=side)
                if is_success(answer) and spec is not None:
                    _remember(run, driver, spec, side)
                    continue
                last[state.route.label] = case.untested or _answer_text(answer)
                still.append(state)
            pending = still
            if not pending:
                break
        for state in pending:
            if side == HOME:
                state.untested = f"its example never succeeded ({last[state.route.label]})"
    for state in states:
        if state.untested is None:
            await _baseline(run, state)
    return states


async def _baseline(run: RunContext, state: RouteState) -> None:
    """One more fresh request once the route is warm: its events are what an execution
    causes from now on (a first use, such as an activation, may cause more)."""
    case = CaseResult("baseline", state.route.app_id, state.route.label)
    driver = RouteDriver(run, state.route, case)
    spec = await driver.fresh(HOME)
    answer = None
    if spec is not None:
        started = time.perf_counter()
        _, answer = await driver.send(spec, "baseline request")
        state.baseline_ms = (time.perf_counter() - started) * 1000.0
    if spec is None or not is_success(answer):
        state.untested = f"a fresh request after the warm-up failed ({_answer_text(answer)})"
        return
    state.baseline = (spec.trace, spec.key)
    state.listed_once = await driver.collection_count((spec.token,))


def _remember(run: RunContext, driver: RouteDriver, spec: RequestSpec, side: str) -> None:
    """Resources the request made or acted on become references for later bodies."""
    identity = driver.identity(side)
    route = driver.route
    for param, value in spec.params.items():
        run.references[(route.app_id, identity, param)] = value


def _answer_text(answer: httpx.Response | None) -> str:
    if answer is None:
        return "no answer"
    detail = json_body(answer)
    text = detail.get("detail") if isinstance(detail, dict) else None
    return f"{answer.status_code}" + (f": {str(text)[:120]}" if text else "")


async def _exercise_reads(run: RunContext, routes: AppRoutes) -> None:
    """GET each parameterised read of the app once, its parameters filled from the
    resources the run made, so that what reads emit (a landing page's ``cta_emitted``)
    is in A8 too. Reads carry no rule of their own: their answers are not judged."""
    identity = run.identity_for(routes.app_id, HOME)
    known = {
        param: value
        for (app_id, who, param), value in run.references.items()
        if app_id == routes.app_id and who == identity
    }
    made = run.created.get((routes.app_id, identity), [])
    for template in routes.reads:
        values: dict[str, str] = {}
        for param in template_params(template):
            if param in known:
                values[param] = known[param]
                continue
            # a field of a resource the run still refers to (the published page's slug)
            for record in reversed(made):
                if param in record and any(record.get(k) == v for k, v in known.items()):
                    values[param] = record[param]
                    break
        if len(values) == len(template_params(template)):
            path = fill_template(template, values)
            with contextlib.suppress(httpx.HTTPError):
                await run.client.get(
                    run.url(routes.app_id, path),
                    headers={
                        **synthetic_headers(identity),
                        **run.tokens[identity].authorization,
                        TRACE_ID_HEADER: new_trace(),
                    },
                )


async def _run_cases(
    run: RunContext, states: list[RouteState], cases: Sequence[tuple[str, CaseFunction]]
) -> list[CaseResult]:
    results: list[CaseResult] = []
    for state in states:
        for rule, function in cases:
            case = CaseResult(rule, state.route.app_id, state.route.label)
            if state.untested is not None:
                case.untested = state.untested
            else:
                await function(RouteDriver(run, state.route, case), state, states)
            results.append(case)
    return results


def _app_summary(routes: AppRoutes, states: list[RouteState]) -> AppCoverage:
    def noted(items: Sequence[ExemptRoute]) -> tuple[RouteNote, ...]:
        return tuple(RouteNote(item.label, item.reason) for item in items)

    return AppCoverage(
        covered=tuple(state.route.label for state in states if state.untested is None),
        exempt=noted(routes.exempt),
        untested=noted(routes.untested)
        + tuple(
            RouteNote(state.route.label, state.untested)
            for state in states
            if state.untested is not None
        ),
    )
