"""Tenants and auth (TEN-22, TEN-24, TEN-25, contract §2a and §4) and the synthetic labels
of §5 (PRD-40)."""

from __future__ import annotations

import httpx

from secondconf.checks.hardening.cases.expect import (
    Siblings,
    claim,
    expect_fresh,
    expect_problem,
    fresh_request,
)
from secondconf.checks.hardening.driver import RouteDriver
from secondconf.checks.hardening.model import (
    HOME,
    OTHER,
    Exchange,
    RouteState,
    canonical,
    is_success,
    new_trace,
)
from secondconf.engine.evidence import RequestRecord
from secondconf.target.json_answer import json_body
from secondconf.target.routes import fill_template, resource_id


async def two_tenants(driver: RouteDriver, state: RouteState, states: Siblings) -> None:
    """TEN-22: the same key under two tenants is two requests, never a replay across them."""
    if (spec := await fresh_request(driver)) is None:
        return
    if (other := await fresh_request(driver, OTHER)) is None:
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
    if (spec := await fresh_request(driver)) is None:
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
        if (spec := await fresh_request(driver)) is None:
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
        if (spec := await fresh_request(driver)) is None:
            return
        first, answer = await driver.send(spec, "tenant A creates")
        made = resource_id(json_body(answer), param)
        if not expect_fresh(driver.case, first, answer) or made is None:
            driver.case.untested = f"the create answer names no {param}"
            return
        path = fill_template(template, {param: made})
        for side, sent in ((OTHER, "tenant B reads it"), (HOME, "tenant A reads it")):
            response = await driver.send_raw("GET", path, driver.identity(side))
            exchange = Exchange(
                RequestRecord(
                    route.app_id, "GET", path, sent, _status(response), route=driver.case.route
                )
            )
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
    if (spec := await fresh_request(driver)) is None:
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
