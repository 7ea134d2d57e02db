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
every event it causes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from secondconf.checks.hardening.effects import count_effects
from secondconf.checks.hardening.model import (
    HOME,
    OTHER,
    CaseResult,
    Exchange,
    HardeningRun,
    RequestSpec,
    RouteState,
    is_success,
    json_body,
    new_trace,
)
from secondconf.contract.platform import PROVIDER_ROLE, SyntheticIdentity
from secondconf.contract.traceids import (
    IDEMPOTENCY_KEY_HEADER,
    TRACE_ID_HEADER,
    new_idempotency_key,
)
from secondconf.core.clock import Clock, utc_iso
from secondconf.target.a8 import A8Client
from secondconf.target.client import NO_TRACE_ID, synthetic_headers
from secondconf.target.identity import AccessToken, TokenError, fetch_token
from secondconf.target.map import OPENAPI_PATH, SystemMap
from secondconf.target.routes import (
    AppRoutes,
    ExemptRoute,
    MutatingRoute,
    discover_routes,
    fill_template,
    prepared_body,
    resource_id,
    template_params,
    unique_token,
)

WARM_UP_PASSES: Final = 3


class HardeningError(Exception):
    """The run could not start (no tokens, no A8): one line says why."""


@dataclass
class RunContext:
    """Everything the cases share: the client, tokens, A8 and the resources made so far."""

    client: httpx.AsyncClient
    system_map: SystemMap
    tokens: Mapping[str, AccessToken]  # HOME/OTHER per app are resolved by identity_for
    a8: A8Client
    routes: dict[tuple[str, str], MutatingRoute] = field(default_factory=dict)
    readers: dict[str, Mapping[str, str]] = field(default_factory=dict)  # app -> param -> GET
    # (app, identity) -> what each resource the run made was made with: its id under the
    # parameter name, and its body's string fields (a landing page's slug, …)
    created: dict[tuple[str, str], list[dict[str, str]]] = field(default_factory=dict)
    references: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def identity_for(self, app_id: str, side: str) -> str:
        """The synthetic identity of ``side`` (home or other tenant) for an app: the
        provider for the provider portal, the student elsewhere, and the other one as
        the second tenant."""
        provider = self.system_map.apps[app_id].role == PROVIDER_ROLE
        home = SyntheticIdentity.PROVIDER if provider else SyntheticIdentity.STUDENT
        other = SyntheticIdentity.STUDENT if provider else SyntheticIdentity.PROVIDER
        return str(home if side == HOME else other)

    def url(self, app_id: str, path: str) -> str:
        return self.system_map.apps[app_id].base_url + path


class RouteDriver:
    """Sends requests on one route as the cases ask, and records each exchange."""

    def __init__(self, run: RunContext, route: MutatingRoute, case: CaseResult) -> None:
        self.run = run
        self.route = route
        self.case = case

    def identity(self, side: str = HOME) -> str:
        return self.run.identity_for(self.route.app_id, side)

    async def fresh(self, side: str = HOME) -> RequestSpec | None:
        """A new request that can succeed: a fresh parent resource for each path
        parameter (made by the creator), a body made unique, a new key and trace id."""
        identity = self.identity(side)
        values: dict[str, str] = {}
        for param in self.route.path_params:
            made = await self.create_parent(param, identity)
            if made is None:
                return None
            values[param] = made
        token = unique_token()
        references = {
            param: value
            for (app_id, who, param), value in self.run.references.items()
            if app_id == self.route.app_id and who == identity
        }
        body = prepared_body(self.route, token, references)
        return RequestSpec(
            self.route.path(values), body, token, new_idempotency_key(), new_trace(), values
        )

    async def create_parent(self, param: str, identity: str) -> str | None:
        """A new resource for ``{param}``, made by the route's creator as ``identity``."""
        creator = self.route.creator
        assert creator is not None  # discovery gives every parameterised route a creator
        parent = self.run.system_map.apps[self.route.app_id]
        maker = self.run.routes.get((parent.app_id, creator))
        body = prepared_body(maker, unique_token(), {}) if maker is not None else {}
        answer = await self.send_raw(
            "POST",
            creator,
            identity,
            payload=body,
            headers={IDEMPOTENCY_KEY_HEADER: new_idempotency_key(), TRACE_ID_HEADER: new_trace()},
        )
        made = resource_id(json_body(answer), param) if answer is not None else None
        if made is not None and isinstance(body, dict):
            fields = {k: v for k, v in body.items() if isinstance(v, str)}
            self.run.created.setdefault((parent.app_id, identity), []).append(
                {**fields, param: made}
            )
        if made is None:
            status = answer.status_code if answer is not None else "no answer"
            self.case.untested = (
                f"could not create a {{{param}}} for {parent.app_id} via POST {creator} ({status})"
            )
        return made

    async def send(
        self,
        spec: RequestSpec,
        sent: str,
        *,
        side: str = HOME,
        path: str | None = None,
        method: str | None = None,
        key: str | bool | None = True,
        trace: str | bool | None = True,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        body: Any = None,
        authorized: bool = True,
    ) -> tuple[Exchange, httpx.Response | None]:
        """Send ``spec`` (or a variant) and record it; ``key``/``trace`` True means the
        spec's, a string replaces it, False/None leaves the header out."""
        identity = self.identity(side)
        all_headers: dict[str, str] = {}
        key_value = spec.key if key is True else key if isinstance(key, str) else None
        trace_value = spec.trace if trace is True else trace if isinstance(trace, str) else None
        if key_value is not None:
            all_headers[IDEMPOTENCY_KEY_HEADER] = key_value
        if trace_value is not None:
            all_headers[TRACE_ID_HEADER] = trace_value
        all_headers.update(headers or {})
        payload = spec.body if body is None else body
        answer = await self.send_raw(
            method or self.route.method,
            path or spec.path,
            identity,
            payload=None if content is not None else payload,
            content=content,
            headers=all_headers,
            no_trace=trace_value is None and "traceparent" not in all_headers,
            authorized=authorized,
        )
        echoed = answer.headers.get(TRACE_ID_HEADER) if answer is not None else None
        exchange = Exchange(
            app=self.route.app_id,
            method=method or self.route.method,
            path=path or spec.path,
            sent=sent,
            status=answer.status_code if answer is not None else None,
            trace_id=trace_value or echoed,
        )
        if answer is None:
            exchange.result = "no answer"
        self.case.requests.append(exchange)
        return exchange, answer

    async def collection_count(self, tokens: Sequence[str], side: str = HOME) -> int | None:
        """How many items the route's collection (a GET at its path) lists that carry one
        of ``tokens``, read as ``side``'s tenant; ``None`` without a readable collection."""
        if self.route.collection is None:
            return None
        answer = await self.send_raw("GET", self.route.collection, self.identity(side))
        if not is_success(answer):
            return None
        items = listed_items(json_body(answer))
        if items is None:
            return None
        texts = [json.dumps(item) for item in items]
        return sum(1 for text in texts if any(token in text for token in tokens))

    async def send_raw(
        self,
        method: str,
        path: str,
        identity: str,
        *,
        payload: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        no_trace: bool = False,
        authorized: bool = True,
    ) -> httpx.Response | None:
        all_headers = synthetic_headers(identity)
        if authorized:
            all_headers.update(self.run.tokens[identity].authorization)
        all_headers.update(headers or {})
        kwargs: dict[str, Any] = {"headers": all_headers}
        if content is not None:
            kwargs["content"] = content
            all_headers.setdefault("Content-Type", "application/json")
        elif method.upper() not in ("GET", "HEAD", "OPTIONS"):
            kwargs["json"] = payload
        if no_trace:
            kwargs["extensions"] = {NO_TRACE_ID: True}
        try:
            return await self.run.client.request(
                method, self.run.url(self.route.app_id, path), **kwargs
            )
        except httpx.HTTPError:
            return None


CaseFunction = Callable[[RouteDriver, "RouteState", Sequence["RouteState"]], Awaitable[None]]


async def run_hardening(
    client: httpx.AsyncClient,
    system_map: SystemMap,
    a8: A8Client,
    client_secret: str,
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
        cases=[case.to_dict() for case in all_cases],
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


def listed_items(body: Any) -> list[Any] | None:
    """The items of a collection answer: a JSON list, or the first list in an object."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        return next((value for value in body.values() if isinstance(value, list)), None)
    return None


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


def _app_summary(routes: AppRoutes, states: list[RouteState]) -> dict[str, Any]:
    def listed(items: Sequence[ExemptRoute]) -> list[dict[str, str]]:
        return [{"route": item.label, "reason": item.reason} for item in items]

    return {
        "covered": [state.route.label for state in states if state.untested is None],
        "exempt": listed(routes.exempt),
        "untested": listed(routes.untested)
        + [
            {"route": state.route.label, "reason": state.untested}
            for state in states
            if state.untested is not None
        ],
    }
