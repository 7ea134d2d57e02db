"""The header rules (HDR-01 … HDR-05) and the trace-header rules (TRC-26 … TRC-28) of §4."""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from secondconf.checks.hardening.cases.expect import (
    Siblings,
    claim,
    expect_fresh,
    expect_problem,
    fresh_request,
)
from secondconf.checks.hardening.driver import RouteDriver
from secondconf.checks.hardening.model import (
    RouteState,
    new_trace,
)
from secondconf.contract.traceids import IDEMPOTENCY_KEY_HEADER, TRACE_ID_HEADER

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


async def missing_key(driver: RouteDriver, state: RouteState, states: Siblings) -> None:
    """HDR-01: no X-Idempotency-Key -> 428 problem+json, no-store, naming it; no effect."""
    if (spec := await fresh_request(driver)) is None:
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
    if (spec := await fresh_request(driver)) is None:
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
    if (spec := await fresh_request(driver)) is None:
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
        if (spec := await fresh_request(driver)) is None:
            return
        exchange, answer = await driver.send(spec, sent, key=key)
        expect_problem(driver.case, exchange, answer, 400)
        await claim(driver, [(exchange, answer, key)], 0, sent, tokens=(spec.token,))
    for sent, trace in MALFORMED_TRACES:
        if (spec := await fresh_request(driver)) is None:
            return
        exchange, answer = await driver.send(spec, sent, trace=trace)
        expect_problem(driver.case, exchange, answer, 400)
        await claim(driver, [(exchange, answer, spec.key)], 0, sent, tokens=(spec.token,))


async def exempt_methods(driver: RouteDriver, state: RouteState, states: Siblings) -> None:
    """HDR-05: GET, HEAD and a CORS preflight OPTIONS without the headers are never 428."""
    if (spec := await fresh_request(driver)) is None:
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
    if (spec := await fresh_request(driver)) is None:
        return
    exchange, answer = await driver.send(
        spec, "traceparent only", trace=None, headers={"traceparent": _traceparent(spec.trace)}
    )
    exchange.record = replace(exchange.record, trace_id=spec.trace)  # the traceparent's
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
        if (spec := await fresh_request(driver)) is None:
            return
        value = template.format(trace=spec.trace, upper=spec.trace.upper())
        exchange, answer = await driver.send(
            spec, f"{sent}, no X-Trace-Id", trace=None, headers={"traceparent": value}
        )
        expect_problem(driver.case, exchange, answer, 428, no_store=True)
        await claim(driver, [(exchange, answer, spec.key)], 0, sent, tokens=(spec.token,))


async def conflicting_traces(driver: RouteDriver, state: RouteState, states: Siblings) -> None:
    """TRC-28: X-Trace-Id and a valid traceparent that disagree -> 400; no effect."""
    if (spec := await fresh_request(driver)) is None:
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
