"""The hardening run: every covered route of every app put through the §4 rule cases once.

One run serves every rule check of the session (like the liveness run): it is measured
once, its cases are judged rule by rule (:mod:`secondconf.hardening_rules`), and the
report lists every request it sent. The run has four steps:

1. **Discovery.** Each app's OpenAPI document gives its covered routes
   (:mod:`secondconf.contract_routes`).
2. **Warm-up.** Each covered route is sent its example once per tenant (a fresh key),
   in passes, so that a route that needs another to have run first (register before
   billing, publish before an impression) gets its chance; a route that never succeeds
   is untested, with the answer it gave. The warm-up request of the home tenant is the
   route's *baseline*: the business events one execution causes.
3. **Cases** (:mod:`secondconf.hardening_cases`), apps in parallel, routes of one app
   in turn. Immediate facts (status, headers, body) are judged at once; side effects
   are *claims* on the number of business events some traces caused, judged in step 4.
4. **Effects.** Side effects are counted in A8 (contract §6): the events other than
   ``http_request`` with a trace id the run used, whose idempotency key is the
   request's (or null); background work of a resource (A3's cycles) carries keys of its
   own and is not counted. Before counting, each app gets a *marker*, a GET with a
   sampled-in trace id, and the run waits (bounded by the telemetry deadline) until A8
   holds the marker's ``http_request``: an app's telemetry reaches A8 in order, so
   everything the app emitted before the marker is in A8 by then. A route whose
   baseline caused no event, and that has no collection to count instead, has its
   side effects recorded as not observable rather than passed.

Every trace id the run sends is sampled in at the lowest rate (0.1), so A8 must keep
every event it causes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from secondconf.clock import Clock, utc_iso
from secondconf.contract_routes import (
    AppRoutes,
    ExemptRoute,
    MutatingRoute,
    discover_routes,
    prepared_body,
    resource_id,
    template_params,
    unique_token,
)
from secondconf.safeclient import NO_TRACE_ID, SyntheticIdentity, synthetic_headers
from secondconf.systemmap import OPENAPI_PATH, SystemMap
from secondconf.telemetry_client import A8Client, StoredEvent, TelemetryError
from secondconf.tokens import AccessToken, TokenError, fetch_token
from secondconf.traceids import (
    HIGH_VOLUME_RATE,
    IDEMPOTENCY_KEY_HEADER,
    TRACE_ID_HEADER,
    new_idempotency_key,
    new_sampled_in_trace_id,
)

HOME: Final = "home"
OTHER: Final = "other"
WARM_UP_PASSES: Final = 3
PROVIDER_ROLE: Final = "provider_portal"
_POLL_S: Final = 0.25


class HardeningError(Exception):
    """The run could not start (no tokens, no A8): one line says why."""


def new_trace() -> str:
    """A trace id A8 must keep whatever the event (sampled in at the lowest rate)."""
    return new_sampled_in_trace_id(HIGH_VOLUME_RATE)


@dataclass
class Exchange:
    """One request of the run and its answer, as the report shows it (no credentials)."""

    app: str
    method: str
    path: str
    sent: str
    status: int | None
    result: str = "ok"
    trace_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "method": self.method,
            "path": self.path,
            "sent": self.sent,
            "status": self.status,
            "result": self.result,
        }


@dataclass(frozen=True)
class EffectClaim:
    """``traces`` (each with the key its requests carried) must have caused exactly
    ``executions`` times the route's baseline of business events."""

    traces: tuple[tuple[str, str | None], ...]
    executions: int
    what: str
    tenant: str | None = None  # also: every event is tagged synthetic, for this tenant


@dataclass
class CaseResult:
    """One rule case on one route: what was violated at once, what waits for A8."""

    rule: str
    app_id: str
    route: str
    requests: list[Exchange] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    claims: list[EffectClaim] = field(default_factory=list)
    untested: str | None = None
    not_applicable: str | None = None  # the rule has nothing to act on for this route
    notes: list[str] = field(default_factory=list)

    def violate(self, exchange: Exchange | None, why: str) -> None:
        self.violations.append(why)
        if exchange is not None:
            exchange.result = why

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "app_id": self.app_id,
            "route": self.route,
            "requests": [e.to_dict() for e in self.requests],
            "violations": list(self.violations),
            "untested": self.untested,
            "not_applicable": self.not_applicable,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class RequestSpec:
    """A fresh request on a route: its path, body and the token marking its body."""

    path: str
    body: Any
    token: str
    key: str
    trace: str


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
        return RequestSpec(self.route.path(values), body, token, new_idempotency_key(), new_trace())

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
            json_body=body,
            headers={IDEMPOTENCY_KEY_HEADER: new_idempotency_key(), TRACE_ID_HEADER: new_trace()},
        )
        made = resource_id(_json(answer), param) if answer is not None else None
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
            json_body=None if content is not None else payload,
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

    async def send_raw(
        self,
        method: str,
        path: str,
        identity: str,
        *,
        json_body: Any = None,
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
            kwargs["json"] = json_body
        if no_trace:
            kwargs["extensions"] = {NO_TRACE_ID: True}
        try:
            return await self.run.client.request(
                method, self.run.url(self.route.app_id, path), **kwargs
            )
        except httpx.HTTPError:
            return None


def _json(response: httpx.Response | None) -> Any:
    if response is None:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def is_success(response: httpx.Response | None) -> bool:
    return response is not None and 200 <= response.status_code < 300


@dataclass
class RouteState:
    """A covered route after the warm-up: ready (with its baseline trace) or untested."""

    route: MutatingRoute
    baseline: tuple[str, str] | None = None  # (trace, key) of the baseline request
    untested: str | None = None


@dataclass
class HardeningRun:
    """What the run found, ready to judge: JSON-friendly (one run per session)."""

    started_at: str
    ended_at: str
    env: str
    apps: dict[str, dict[str, Any]]  # app -> {"covered": [...], "exempt": [...], "untested": [...]}
    cases: list[dict[str, Any]]
    baselines: dict[str, dict[str, int] | None]  # route label -> business events per execution
    problems: list[str] = field(default_factory=list)  # run-level (no A8, no tokens)

    def to_dict(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "env": self.env,
            "apps": self.apps,
            "cases": self.cases,
            "baselines": self.baselines,
            "problems": self.problems,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HardeningRun:
        return cls(
            started_at=data["started_at"],
            ended_at=data["ended_at"],
            env=data["env"],
            apps=dict(data["apps"]),
            cases=list(data["cases"]),
            baselines=dict(data["baselines"]),
            problems=list(data.get("problems", ())),
        )


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
    baselines = await _count_effects(run, states, all_cases, clock, telemetry_deadline_s)
    return HardeningRun(
        started_at=utc_iso(started),
        ended_at=utc_iso(clock.now()),
        env=system_map.env,
        apps={app_id: _app_summary(apps[app_id], states[app_id]) for app_id in apps},
        cases=[case.to_dict() for case in all_cases],
        baselines=baselines,
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
    document = _json(answer) if answer.status_code == 200 else None
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
        _, answer = await driver.send(spec, "baseline request")
    if spec is None or not is_success(answer):
        state.untested = f"a fresh request after the warm-up failed ({_answer_text(answer)})"
        return
    state.baseline = (spec.trace, spec.key)


def _remember(run: RunContext, driver: RouteDriver, spec: RequestSpec, side: str) -> None:
    """Resources the request made or acted on become references for later bodies."""
    identity = driver.identity(side)
    route = driver.route
    values = dict(zip(route.path_params, _path_values(route, spec.path), strict=False))
    for param, value in values.items():
        run.references[(route.app_id, identity, param)] = value


def _path_values(route: MutatingRoute, path: str) -> list[str]:
    template_parts = route.template.strip("/").split("/")
    path_parts = path.strip("/").split("/")
    return [
        value
        for part, value in zip(template_parts, path_parts, strict=False)
        if part.startswith("{")
    ]


def _answer_text(answer: httpx.Response | None) -> str:
    if answer is None:
        return "no answer"
    detail = _json(answer)
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
            path = _fill(template, values)
            with contextlib.suppress(httpx.HTTPError):
                await run.client.get(
                    run.url(routes.app_id, path),
                    headers={
                        **synthetic_headers(identity),
                        **run.tokens[identity].authorization,
                        TRACE_ID_HEADER: new_trace(),
                    },
                )


def _fill(template: str, values: Mapping[str, str]) -> str:
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template


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


async def _count_effects(
    run: RunContext,
    states: Mapping[str, list[RouteState]],
    cases: list[CaseResult],
    clock: Clock,
    deadline_s: float,
) -> dict[str, dict[str, int] | None]:
    """Wait for every app's marker in A8, then judge each case's effect claims."""
    try:
        await asyncio.gather(*(_marker(run, app_id, clock, deadline_s) for app_id in states))
    except TelemetryError as error:
        for case in cases:
            if case.claims:
                case.violate(None, f"side effects not countable: {error}")
        return {}
    traces = {trace for case in cases for claim in case.claims for trace, _ in claim.traces} | {
        s.baseline[0] for app in states.values() for s in app if s.baseline
    }
    events = await events_by_trace(run.a8, sorted(traces))
    baselines: dict[str, dict[str, int] | None] = {}
    by_route = {s.route.label: s for app in states.values() for s in app}
    for label, state in by_route.items():
        baselines[label] = (
            dict(business_effects(events, [state.baseline])) if state.baseline is not None else None
        )
    for case in cases:
        for claim in case.claims:
            _judge_claim(case, claim, events, baselines.get(case.route))
            if claim.tenant is not None:
                _judge_labels(case, claim, events, run.system_map.env)
        case.claims.clear()
    return baselines


async def _marker(run: RunContext, app_id: str, clock: Clock, deadline_s: float) -> None:
    await await_marker(run.client, run.system_map, run.a8, app_id, clock, deadline_s)


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


def _judge_claim(
    case: CaseResult,
    claim: EffectClaim,
    events: Mapping[str, list[StoredEvent]],
    baseline: Mapping[str, int] | None,
) -> None:
    """Compare the business events of ``claim``'s traces with ``executions`` executions.

    None expected: there must be none. Otherwise no event name may come more often than
    that many executions cause (an event an execution may or may not cause, such as a
    bandit update, is allowed once per execution), and at least one must be there: an
    execution A8 cannot see is no evidence of a single one.
    """
    seen = business_effects(events, claim.traces)
    if claim.executions == 0:
        if seen:
            case.violate(None, f"{claim.what}: caused {_counts(seen)} in A8, expected nothing")
        return
    if not baseline:
        case.notes.append(
            f"{claim.what}: side effects not observable (one execution causes no business "
            "event in A8); judged on the answers only"
        )
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


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{count} {name}" for name, count in sorted(counts.items())) or "nothing"


def _judge_labels(
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


def canonical(body: Any) -> str:
    """Canonical JSON (sorted keys, no insignificant whitespace) for comparing bodies."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"))
