"""What an answer must look like, and the side effects a case claims, for every rule case.

A case judges what the answers show at once (status, problem+json, headers, bodies) with
the ``expect_*`` functions and leaves side effects as
:class:`~secondconf.checks.hardening.model.EffectClaim` s (:func:`claim`), which the run
counts in A8 after its marker barrier.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import httpx

from secondconf.checks.hardening.driver import RouteDriver
from secondconf.checks.hardening.model import (
    HOME,
    CaseResult,
    EffectClaim,
    Exchange,
    RequestSpec,
    RouteState,
    canonical,
    is_success,
)
from secondconf.contract.traceids import TRACE_ID_HEADER, is_valid_trace_id
from secondconf.target.json_answer import json_body

Siblings = Sequence[RouteState]  # the app's covered routes, the case's own included

REPLAYED: Final = "Idempotent-Replayed"
PROBLEM_JSON: Final = "application/problem+json"
PROBLEM_FIELDS: Final = ("type", "title", "status", "detail")


def is_replayed(response: httpx.Response | None) -> bool:
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
    if is_replayed(response):
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
    if not is_replayed(again):
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


async def fresh_request(driver: RouteDriver, side: str = HOME) -> RequestSpec | None:
    """A fresh request on the driver's route, or ``None`` with the case left untested."""
    spec = await driver.fresh(side)
    if spec is None and driver.case.untested is None:
        driver.case.untested = "no fresh request could be prepared"
    return spec
