"""The idempotency rules of §4 (IDEM-07 … IDEM-15): replays, key reuse and concurrency."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Final

import httpx

from secondconf.checks.hardening.cases.expect import (
    Siblings,
    claim,
    expect_fresh,
    expect_problem,
    expect_replay,
    fresh_request,
    is_replayed,
)
from secondconf.checks.hardening.driver import RouteDriver
from secondconf.checks.hardening.model import (
    Exchange,
    RouteState,
    canonical,
    is_success,
    new_trace,
)
from secondconf.target.json_answer import json_body
from secondconf.target.routes import unique_token

CONCURRENT_REQUESTS: Final = 8


async def replay(driver: RouteDriver, state: RouteState, states: Siblings) -> None:
    """IDEM-07: the same key, trace and body twice -> the stored answer; one effect."""
    if (spec := await fresh_request(driver)) is None:
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
    if (spec := await fresh_request(driver)) is None:
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
    if (spec := await fresh_request(driver)) is None:
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
    if (spec := await fresh_request(driver)) is None:
        return
    first, answer = await driver.send(spec, "first request")
    second_driver = RouteDriver(driver.run, others[0].route, driver.case)
    if (second := await fresh_request(second_driver)) is None:
        return
    exchange, response = await second_driver.send(
        second, f"same key on {others[0].route.method} {others[0].route.template}", key=spec.key
    )
    if expect_fresh(driver.case, first, answer):
        expect_fresh(driver.case, exchange, response)


async def reordered_body(driver: RouteDriver, state: RouteState, states: Siblings) -> None:
    """IDEM-12: the same JSON with its keys reordered and extra whitespace is a replay."""
    if (spec := await fresh_request(driver)) is None:
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
    if (spec := await fresh_request(driver)) is None:
        return
    barrier = asyncio.Barrier(CONCURRENT_REQUESTS)
    traces = [new_trace() for _ in range(CONCURRENT_REQUESTS)]

    async def one(trace: str) -> tuple[Exchange, httpx.Response | None]:
        await barrier.wait()
        return await driver.send(spec, "one of N released together", trace=trace)

    sent = await asyncio.gather(*(one(trace) for trace in traces))
    fresh = [(e, r) for e, r in sent if is_success(r) and not is_replayed(r)]
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
