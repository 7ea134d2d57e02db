"""The rule cases of the hardening run: what is sent on each covered route, and what must hold.

Each case is an async function of a :class:`~secondconf.checks.hardening.driver.RouteDriver`
(the route, its tenants, the recorder), the route's warm-up state and its app's other routes. It
judges what the answers show at once (status, problem+json, headers, bodies) and leaves
side effects as :class:`~secondconf.checks.hardening.model.EffectClaim` s, which the run
counts in A8 after its marker barrier. The rule ids follow the research catalogue
(``idempotency-security.md`` §a); the rules themselves are contract §4 and §5.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Final

import httpx

from secondconf.checks.hardening.driver import CaseFunction, RouteDriver
from secondconf.checks.hardening.model import (
    HOME,
    OTHER,
    CaseResult,
    EffectClaim,
    Exchange,
    RequestSpec,
    RouteState,
    canonical,
    is_success,
    json_body,
    new_trace,
)
from secondconf.contract.traceids import IDEMPOTENCY_KEY_HEADER, TRACE_ID_HEADER, is_valid_trace_id
from secondconf.target.routes import fill_template, resource_id, unique_token

Siblings = Sequence[RouteState]  # the app's covered routes, the case's own included

REPLAYED: Final = "Idempotent-Replayed"
PROBLEM_JSON: Final = "application/problem+json"
PROBLEM_FIELDS: Final = ("type", "title", "status", "detail")
CONCURRENT_REQUESTS: Final = 8
MALFORMED_KEYS: Final = (
    ("a key with a comma", "qa-a,b"),
    ("a 256-character key", "k" * 256),
    ("a key with a space", "qa key"),
)
MALFORMED_TRACES: Final = (
    ("an upper-case trace id", "4BF92F3577B34DA6A3CE929D0E0E4736"),
    ("an all-zero trace id", "0" * 32),
    ("a 31-digit trace id", "4bf92f3577b34da6a3ce929d0e0e473"),
)
INVALID_TRACEPARENTS: Final = (
    ("a traceparent with version ff", "ff-{trace}-00f067aa0ba902b7-01"),
    ("a traceparent with an all-zero trace id", "00-" + "0" * 32 + "-00f067aa0ba902b7-01"),
    ("an upper-case traceparent", "00-{upper}-00F067AA0BA902B7-01"),
)


# -- what an answer must look like ------------------------------------------------------


def _replayed(response: httpx.Response | None) -> bool:
    return response is not None and response.headers.get(REPLAYED, "").lower() == "true"


def expect_problem(
    case: CaseResult,
    exchange: Exchange,
    response: httpx.Response | None,
    status: int,
    *,
    no_store: bool = False,
    mentions: Sequence[str] = (),
) -> bool:
    """``response`` is a ``status`` problem+json (RFC 9457) with what the rule asks."""
    if response is None:
        case.violate(exchange, f"{exchange.sent}: no answer, expected {status}")
        return False
    if response.status_code != status:
        case.violate(exchange, f"{exchange.sent}: answered {response.status_code}, not {status}")
        return False
    problems: list[str] = []
    if not response.headers.get("content-type", "").startswith(PROBLEM_JSON):
        problems.append(f"Content-Type is {response.headers.get('content-type')!r}")
    body = json_body(response)
    if not isinstance(body, dict) or any(name not in body for name in PROBLEM_FIELDS):
        problems.append("the body lacks type/title/status/detail")
    if no_store and "no-store" not in response.headers.get("cache-control", "").lower():
        problems.append("no Cache-Control: no-store")
    text = response.text.lower()
    problems += [
        f"the problem does not name {name}" for name in mentions if name.lower() not in text
    ]
    if problems:
        case.violate(exchange, f"{exchange.sent}: {status} but " + "; ".join(problems))
        return False
    return True


def expect_fresh(case: CaseResult, exchange: Exchange, response: httpx.Response | None) -> bool:
    """A first request with its key: a 2xx that is not a replay."""
    if not is_success(response):
        status = response.status_code if response is not None else "no answer"
        case.violate(exchange, f"{exchange.sent}: answered {status}, expected a 2xx")
        return False
    if _replayed(response):
        case.violate(exchange, f"{exchange.sent}: a new request answered as a replay")
        return False
    return True


def expect_replay(
    case: CaseResult,
    exchange: Exchange,
    first: httpx.Response | None,
    again: httpx.Response | None,
) -> bool:
    """``again`` replays ``first``: same status and body, ``Idempotent-Replayed: true``."""
    if first is None or again is None:
        case.violate(exchange, f"{exchange.sent}: no answer to compare")
        return False
    problems: list[str] = []
    if again.status_code != first.status_code:
        problems.append(f"status {again.status_code}, first was {first.status_code}")
    if canonical(json_body(again)) != canonical(json_body(first)) or (
        json_body(first) is None and (again.content != first.content)
    ):
        problems.append("a different body (a second execution?)")
    if not _replayed(again):
        problems.append(f"no {REPLAYED}: true")
    if problems:
        case.violate(exchange, f"{exchange.sent}: not a replay: " + "; ".join(problems))
        return False
    return True


def _effect_trace(exchange: Exchange, response: httpx.Response | None) -> str | None:
    """The trace id the target used: the echoed one (contract §3), else the one sent."""
    echoed = response.headers.get(TRACE_ID_HEADER, "") if response is not None else ""
    return echoed if is_valid_trace_id(echoed) else exchange.trace_id


async def claim(
    driver: RouteDriver,
    pairs: Sequence[tuple[Exchange, httpx.Response | None, str | None]],
    executions: int,
    what: str,
    *,
    tokens: Sequence[str],
    side: str = HOME,
    tenant: str | None = None,
) -> None:
    """Side effects of these requests (exchange, answer, key) must be ``executions``
    executions' worth; an answer without a usable trace id cannot be counted. Where the
    route has a collection, what it lists with the bodies' ``tokens`` is read now (a
    listing shows only the newest items), for routes whose executions A8 cannot see."""
    traces: list[tuple[str, str | None]] = []
    for exchange, response, key in pairs:
        trace = _effect_trace(exchange, response)
        if trace is None or not is_valid_trace_id(trace):
            driver.case.violate(exchange, f"{exchange.sent}: no X-Trace-Id echoed (contract §3)")
            return
        traces.append((trace, key))
    listed = await driver.collection_count(tokens, side)
    driver.case.claims.append(
        EffectClaim(tuple(traces), executions, what, tenant=tenant, listed=listed)
    )


async def _fresh(driver: RouteDriver, side: str = HOME) -> RequestSpec | None:
    spec = await driver.fresh(side)
    if spec is None and driver.case.untested is None:
        driver.case.untested = "no fresh request could be prepared"
    return spec


# -- HDR: the header rules --------------------------------------------------------------


async def missing_key(driver: RouteDriver, state: RouteState, states: Siblings) -> None:
    """HDR-01: no X-Idempotency-Key -> 428 problem+json, no-store, naming it; no effect."""
    if (spec := await _fresh(driver)) is None:
        return
    exchange, answer = await driver.send(spec, "no X-Idempotency-Key", key=None)
    expect_problem(
        driver.case, exchange, answer, 428, no_store=True, mentions=(IDEMPOTENCY_KEY_HEADER,)
    )
    await claim(
        driver,
        [(exchange, answer, None)],
        0,
        "request without X-Idempotency-Key",
        tokens=(spec.token,),
    )


async def missing_trace(driver: RouteDriver, state: RouteState, states: Siblings) -> None:
    """HDR-02: no X-Trace-Id and no traceparent -> 428 naming X-Trace-Id; no effect."""
    if (spec := await _fresh(driver)) is None:
        return
    exchange, answer = await driver.send(spec, "no X-Trace-Id, no traceparent", trace=None)
    expect_problem(driver.case, exchange, answer, 428, no_store=True, mentions=(TRACE_ID_HEADER,))
    await claim(
        driver,
        [(exchange, answer, spec.key)],
        0,
        "request without a trace id",
        tokens=(spec.token,),
    )


async def missing_both(driver: RouteDriver, state: RouteState, states: Siblings) -> None:
    """HDR-03: both headers missing -> 428 naming both; no effect."""
    if (spec := await _fresh(driver)) is None:
        return
    exchange, answer = await driver.send(spec, "neither header", key=None, trace=None)
    expect_problem(
        driver.case,
        exchange,
        answer,
        428,
        no_store=True,
        mentions=(IDEMPOTENCY_KEY_HEADER, TRACE_ID_HEADER),
    )
    await claim(
        driver, [(exchange, answer, None)], 0, "request without either header", tokens=(spec.token,)
    )


async def malformed(driver: RouteDriver, state: RouteState, states: Siblings) -> None:
    """HDR-04: a malformed key or trace id -> 400 problem+json; no effect."""
    for sent, key in MALFORMED_KEYS:
        if (spec := await _fresh(driver)) is None:
            return
        exchange, answer = await driver.send(spec, sent, key=key)
        expect_problem(driver.case, exchange, answer, 400)
        await claim(driver, [(exchange, answer, key)], 0, sent, tokens=(spec.token,))
    for sent, trace in MALFORMED_TRACES:
        if (spec := await _fresh(driver)) is None:
            return
        exchange, answer = await driver.send(spec, sent, trace=trace)
        expect_problem(driver.case, exchange, answer, 400)
        await claim(driver, [(exchange, answer, spec.key)], 0, sent, tokens=(spec.token,))


async def exempt_methods(driver: RouteDriver, state: RouteState, states: Siblings) -> None:
    """HDR-05: GET, HEAD and a CORS preflight OPTIONS without the headers are never 428."""
    if (spec := await _fresh(driver)) is None:
        return
    preflight = {
        "Origin": "https://qa.invalid",
        "Access-Control-Request-Method": driver.route.method,
        "Access-Control-Request-Headers": "x-idempotency-key, x-trace-id",
    }
    for method, headers in (("GET", {}), ("HEAD", {}), ("OPTIONS", preflight)):
        exchange, answer = await driver.send(
            spec,
            f"{method} without the headers",
            method=method,
            key=None,
            trace=None,
            headers=headers,
        )
        if answer is None:
            driver.case.violate(exchange, f"{exchange.sent}: no answer")
        elif answer.status_code == 428 or answer.status_code >= 500:
            driver.case.violate(exchange, f"{exchange.sent}: answered {answer.status_code}")


# -- TRC: trace headers -----------------------------------------------------------------


def _traceparent(trace: str) -> str:
    return f"00-{trace}-00f067aa0ba902b7-01"


async def traceparent_accepted(driver: RouteDriver, state: RouteState, states: Siblings) -> None:
    """TRC-26: a valid traceparent and no X-Trace-Id is accepted; its trace id is echoed."""
    if (spec := await _fresh(driver)) is None:
        return
    exchange, answer = await driver.send(
        spec, "traceparent only", trace=None, headers={"traceparent": _traceparent(spec.trace)}
    )
    exchange.trace_id = spec.trace
    if expect_fresh(driver.case, exchange, answer) and answer is not None:
        echoed = answer.headers.get(TRACE_ID_HEADER)
        if echoed != spec.trace:
            driver.case.violate(exchange, f"{exchange.sent}: echoed {echoed!r}, not its trace id")
    await claim(
        driver,
        [(exchange, answer, spec.key)],
        1,
        "request with a traceparent",
        tokens=(spec.token,),
    )


async def invalid_traceparent(driver: RouteDriver, state: RouteState, states: Siblings) -> None:
    """TRC-27: an invalid traceparent is ignored (W3C), so alone it is no trace id: 428."""
    for sent, template in INVALID_TRACEPARENTS:
        if (spec := await _fresh(driver)) is None:
            return
        value = template.format(trace=spec.trace, upper=spec.trace.upper())
        exchange, answer = await driver.send(
            spec, f"{sent}, no X-Trace-Id", trace=None, headers={"traceparent": value}
        )
        expect_problem(driver.case, exchange, answer, 428, no_store=True)
        await claim(driver, [(exchange, answer, spec.key)], 0, sent, tokens=(spec.token,))


async def conflicting_traces(driver: RouteDriver, state: RouteState, states: Siblings) -> None:
    """TRC-28: X-Trace-Id and a valid traceparent that disagree -> 400; no effect."""
    if (spec := await _fresh(driver)) is None:
        return
    other = new_trace()
    exchange, answer = await driver.send(
        spec, "X-Trace-Id and a different traceparent", headers={"traceparent": _traceparent(other)}
    )
    expect_problem(driver.case, exchange, answer, 400)
    await claim(
        driver, [(exchange, answer, spec.key)], 0, "conflicting trace headers", tokens=(spec.token,)
    )
    if driver.case.claims:  # nothing either under the traceparent's trace id
        made = driver.case.claims[-1]
        driver.case.claims[-1] = replace(made, traces=(*made.traces, (other, spec.key)))


# -- IDEM: idempotency -------------------------------------------------------------------


async def replay(driver: RouteDriver, state: RouteState, states: Siblings) -> None:
    """IDEM-07: the same key, trace and body twice -> the stored answer; one effect."""
    if (spec := await _fresh(driver)) is None:
        return
    first, answer = await driver.send(spec, "first request")
    again, repeat = await driver.send(spec, "same key, trace id and body again")
    if expect_fresh(driver.case, first, answer):
        expect_replay(driver.case, again, answer, repeat)
    await claim(
        driver, [(first, answer, spec.key)], 1, "a request and its replay", tokens=(spec.token,)
    )


async def new_trace_is_replay(driver: RouteDriver, state: RouteState, states: Siblings) -> None:
    """IDEM-09: the same key with a new trace id (a retry from a new process) is a replay."""
    if (spec := await _fresh(driver)) is None:
        return
    first, answer = await driver.send(spec, "first request")
    again, repeat = await driver.send(spec, "same key and body, new trace id", trace=new_trace())
    if expect_fresh(driver.case, first, answer):
        expect_replay(driver.case, again, answer, repeat)
    await claim(
        driver,
        [(first, answer, spec.key), (again, repeat, spec.key)],
        1,
        "a request and its retry under a new trace id",
        tokens=(spec.token,),
    )


def variant_body(body: Any, token: str, new_token: str) -> Any:
    """The same request with one field changed to carry ``new_token`` (another fingerprint)."""
    if isinstance(body, dict):
        for name, value in body.items():
            if isinstance(value, str) and token in value:
                return {**body, name: value.replace(token, new_token)}
        return {**body, "qa_variant": new_token}
    return {"qa_variant": new_token, "original": body}


async def different_body(driver: RouteDriver, state: RouteState, states: Siblings) -> None:
    """IDEM-10: the same key with another body -> 422, no effect; the original still replays."""
    if (spec := await _fresh(driver)) is None:
        return
    first, answer = await driver.send(spec, "first request")
    variant = unique_token()
    changed, mismatch = await driver.send(
        spec,
        "same key, different body",
        body=variant_body(spec.body, spec.token, variant),
        trace=new_trace(),
    )
    original, repeat = await driver.send(spec, "the original again", trace=new_trace())
    if expect_fresh(driver.case, first, answer):
        expect_problem(driver.case, changed, mismatch, 422)
        expect_replay(driver.case, original, answer, repeat)
    await claim(
        driver,
        [(first, answer, spec.key), (changed, mismatch, spec.key), (original, repeat, spec.key)],
        1,
        "a request, a mismatching reuse of its key and its replay",
        tokens=(spec.token, variant),
    )


async def other_route(driver: RouteDriver, state: RouteState, states: Siblings) -> None:
    """IDEM-11: the same key on another route of the app is another request (scope)."""
    others = [s for s in states if s is not state and s.untested is None]
    others.sort(key=lambda s: len(s.route.path_params))
    if not others:
        driver.case.not_applicable = "the app has no other covered route that succeeds"
        return
    if (spec := await _fresh(driver)) is None:
        return
    first, answer = await driver.send(spec, "first request")
    second_driver = RouteDriver(driver.run, others[0].route, driver.case)
    if (second := await _fresh(second_driver)) is None:
        return
    exchange, response = await second_driver.send(
        second, f"same key on {others[0].route.method} {others[0].route.template}", key=spec.key
    )
    if expect_fresh(driver.case, first, answer):
        expect_fresh(driver.case, exchange, response)


async def reordered_body(driver: RouteDriver, state: RouteState, states: Siblings) -> None:
    """IDEM-12: the same JSON with its keys reordered and extra whitespace is a replay."""
    if (spec := await _fresh(driver)) is None:
        return
    first, answer = await driver.send(spec, "first request")
    reordered = (
        dict(reversed(list(spec.body.items()))) if isinstance(spec.body, dict) else spec.body
    )
    content = json.dumps(reordered, indent=3).encode()
    again, repeat = await driver.send(spec, "keys reordered, whitespace added", content=content)
    if expect_fresh(driver.case, first, answer):
        expect_replay(driver.case, again, answer, repeat)
    await claim(
        driver,
        [(first, answer, spec.key)],
        1,
        "a request and its reordered replay",
        tokens=(spec.token,),
    )


async def concurrent(driver: RouteDriver, state: RouteState, states: Siblings) -> None:
    """IDEM-15: N identical requests released together -> exactly one execution; the
    others are replays or 409s, and every 2xx carries the same body."""
    if (spec := await _fresh(driver)) is None:
        return
    barrier = asyncio.Barrier(CONCURRENT_REQUESTS)
    traces = [new_trace() for _ in range(CONCURRENT_REQUESTS)]

    async def one(trace: str) -> tuple[Exchange, httpx.Response | None]:
        await barrier.wait()
        return await driver.send(spec, "one of N released together", trace=trace)

    sent = await asyncio.gather(*(one(trace) for trace in traces))
    fresh = [(e, r) for e, r in sent if is_success(r) and not _replayed(r)]
    bodies = {canonical(json_body(r)) for _, r in sent if is_success(r)}
    if len(fresh) != 1:
        driver.case.violate(
            None, f"{CONCURRENT_REQUESTS} requests released together: {len(fresh)} executed"
        )
    for exchange, response in sent:
        if response is None or not (is_success(response) or response.status_code == 409):
            status = response.status_code if response is not None else "no answer"
            driver.case.violate(exchange, f"{exchange.sent}: answered {status}")
        elif response.status_code == 409:
            expect_problem(driver.case, exchange, response, 409)
    if len(bodies) > 1:
        driver.case.violate(None, f"the 2xx answers carry {len(bodies)} different bodies")
    await claim(
        driver,
        [(e, r, spec.key) for e, r in sent],
        1,
        f"{CONCURRENT_REQUESTS} identical requests released together",
        tokens=(spec.token,),
    )


# -- TEN: tenants and auth ---------------------------------------------------------------


async def two_tenants(driver: RouteDriver, state: RouteState, states: Siblings) -> None:
    """TEN-22: the same key under two tenants is two requests, never a replay across them."""
    if (spec := await _fresh(driver)) is None:
        return
    if (other := await _fresh(driver, OTHER)) is None:
        return
    first, answer = await driver.send(spec, "tenant A, key K")
    second, response = await driver.send(
        other, "tenant B, the same key K", side=OTHER, key=spec.key
    )
    both_fresh = expect_fresh(driver.case, first, answer) and expect_fresh(
        driver.case, second, response
    )
    if both_fresh and canonical(json_body(answer)) == canonical(json_body(response)):
        driver.case.violate(second, f"{second.sent}: got tenant A's answer")
    await claim(driver, [(first, answer, spec.key)], 1, "tenant A's request", tokens=(spec.token,))
    await claim(
        driver,
        [(second, response, spec.key)],
        1,
        "tenant B's request with the same key",
        tokens=(other.token,),
        side=OTHER,
    )


async def auth_first(driver: RouteDriver, state: RouteState, states: Siblings) -> None:
    """TEN-24: no token, or a token A1 did not sign -> 401 even for a used key, and the
    stored answer is not disclosed."""
    if (spec := await _fresh(driver)) is None:
        return
    first, answer = await driver.send(spec, "first request")
    pairs = [(first, answer, spec.key)]
    for sent, headers, authorized in (
        ("the same key without a token", {}, False),
        ("the same key with a forged token", {"Authorization": "Bearer not.a.token"}, False),
    ):
        exchange, response = await driver.send(
            spec, sent, trace=new_trace(), headers=headers, authorized=authorized
        )
        if expect_problem(driver.case, exchange, response, 401) and response is not None:
            made = resource_id(json_body(answer), "id")
            if spec.token in response.text or (made is not None and made in response.text):
                driver.case.violate(exchange, f"{sent}: the 401 discloses the stored answer")
        pairs.append((exchange, response, spec.key))
    if expect_fresh(driver.case, first, answer):
        await claim(
            driver,
            pairs,
            1,
            "a request and unauthenticated reuses of its key",
            tokens=(spec.token,),
        )


async def cross_tenant(driver: RouteDriver, state: RouteState, states: Siblings) -> None:
    """TEN-25: another tenant's resource answers 404 without its data, to reads and writes."""
    route = driver.route
    cases = 0
    if route.path_params:  # a write on tenant A's resource by tenant B
        if (spec := await _fresh(driver)) is None:
            return
        exchange, answer = await driver.send(spec, "tenant B on tenant A's resource", side=OTHER)
        expect_problem(driver.case, exchange, answer, 404)
        await claim(
            driver,
            [(exchange, answer, spec.key)],
            0,
            "tenant B's write on A's resource",
            tokens=(spec.token,),
            side=OTHER,
        )
        cases += 1
    readers = {
        param: template
        for param, template in driver.run.readers.get(route.app_id, {}).items()
        if not route.path_params and reads_what_it_creates(route.template, template, param)
    }
    for param, template in readers.items():  # a read of what tenant A just made
        if (spec := await _fresh(driver)) is None:
            return
        first, answer = await driver.send(spec, "tenant A creates")
        made = resource_id(json_body(answer), param)
        if not expect_fresh(driver.case, first, answer) or made is None:
            driver.case.untested = f"the create answer names no {param}"
            return
        path = fill_template(template, {param: made})
        for side, sent in ((OTHER, "tenant B reads it"), (HOME, "tenant A reads it")):
            response = await driver.send_raw("GET", path, driver.identity(side))
            exchange = Exchange(route.app_id, "GET", path, sent, _status(response))
            driver.case.requests.append(exchange)
            if side == OTHER:
                if response is None or response.status_code != 404:
                    driver.case.violate(exchange, f"{sent}: answered {_status(response)}, not 404")
                elif spec.token in response.text:
                    driver.case.violate(exchange, f"{sent}: the 404 carries the resource's data")
            elif not is_success(response):
                driver.case.violate(exchange, f"{sent}: answered {_status(response)}, not 2xx")
        cases += 1
    if cases == 0:
        driver.case.not_applicable = "the route neither acts on nor creates a readable resource"


def reads_what_it_creates(creator: str, reader: str, param: str) -> bool:
    """Whether GET ``reader`` (``/v1/checkouts/{checkout_id}``) reads what POST
    ``creator`` (``/v1/checkout``) makes: the reader sits under the creator's path, or its
    parameter is named after the creator's last segment (``checkout``, ``pages`` ->
    ``page_id``)."""
    if reader.startswith(creator.rstrip("/") + "/"):
        return True
    segment = creator.rstrip("/").rsplit("/", 1)[-1]
    stem = param.removesuffix("_id")
    return stem in (segment, segment.removesuffix("s"))


def _status(response: httpx.Response | None) -> int | None:
    return response.status_code if response is not None else None


# -- PRD: synthetic labels ----------------------------------------------------------------


async def synthetic_labels(driver: RouteDriver, state: RouteState, states: Siblings) -> None:
    """PRD-40: every event a synthetic request causes carries the synthetic tags, the
    environment and the synthetic identity's tenant (contract §5)."""
    if (spec := await _fresh(driver)) is None:
        return
    exchange, answer = await driver.send(spec, "a synthetic request")
    if expect_fresh(driver.case, exchange, answer):
        tenant = driver.run.tokens[driver.identity()].tenant
        await claim(
            driver,
            [(exchange, answer, spec.key)],
            1,
            "a synthetic request",
            tokens=(spec.token,),
            tenant=tenant,
        )


CASES: Final[tuple[tuple[str, CaseFunction], ...]] = (
    ("HDR-01", missing_key),
    ("HDR-02", missing_trace),
    ("HDR-03", missing_both),
    ("HDR-04", malformed),
    ("HDR-05", exempt_methods),
    ("TRC-26", traceparent_accepted),
    ("TRC-27", invalid_traceparent),
    ("TRC-28", conflicting_traces),
    ("IDEM-07", replay),
    ("IDEM-09", new_trace_is_replay),
    ("IDEM-10", different_body),
    ("IDEM-11", other_route),
    ("IDEM-12", reordered_body),
    ("IDEM-15", concurrent),
    ("TEN-22", two_tenants),
    ("TEN-24", auth_first),
    ("TEN-25", cross_tenant),
    ("PRD-40", synthetic_labels),
)
