"""MON-03 and MON-04 (contract §7, §11): the micro SKU's Stripe Price, read from Stripe.

A2 resolves a work kind's micro SKU to a Stripe Price by lookup key, creating it once when
absent (``POST /v1/micro-sku/resolve``, a harness extension that answers the lookup key and
the Price). The harness never trusts that answer alone: it lists the Prices through the
Stripe API.

* MON-03: for each kind of A4's catalog (``GET /v1/catalog``), exactly one Price holds the
  kind's lookup key, and it is active, one unit of ``max(50, 4 × unit cost)`` cents, in USD.
* MON-04: N resolves of a fresh lookup key (``test_…``, named by the synthetic request),
  released together, answer one Price, and Stripe holds exactly one Price for that key:
  the Prices holding the key, and every Price of the products the answers name, are one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx

from secondconf.checks.monetization import model
from secondconf.contract.catalog import rule_by_id
from secondconf.contract.platform import SyntheticIdentity
from secondconf.contract.traceids import TRACE_ID_HEADER, new_idempotency_key, new_trace_id
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Verdict
from secondconf.target.client import synthetic_headers
from secondconf.target.identity import AccessToken
from secondconf.target.map import SystemMap
from secondconf.target.stripe_api import StripePrice, StripeReader, StripeReadError

PRICE_RULE: Final = rule_by_id("MON-03")
RACE_RULE: Final = rule_by_id("MON-04")
PAYMENTS_APP: Final = "A2"
CONTENT_APP: Final = "A4"
RESOLVE_PATH: Final = "/v1/micro-sku/resolve"
CATALOG_PATH: Final = "/v1/catalog"
CONCURRENT_RESOLVES: Final = 8


class CatalogError(Exception):
    """A4 gave no catalog to price."""


@dataclass(frozen=True)
class Resolved:
    """A2's answer to one resolve."""

    status: int
    body: Mapping[str, Any]

    def text(self, name: str) -> str | None:
        value = self.body.get(name)
        return value if isinstance(value, str) else None

    def describe(self) -> str:
        return f"A2 {RESOLVE_PATH} answered {self.status} ({self.body.get('detail', '')})"


class SkuClient:
    """A2's resolve and A4's catalog, as the synthetic student."""

    def __init__(self, client: httpx.AsyncClient, system_map: SystemMap, token: AccessToken):
        self.client = client
        self.system_map = system_map
        self.token = token

    async def catalog(self) -> dict[str, int]:
        url = self.system_map.apps[CONTENT_APP].base_url + CATALOG_PATH
        answer = await self.client.get(url, headers=self.token.authorization)
        body = _json(answer)
        kinds = body.get("kinds")
        if answer.status_code != 200 or not isinstance(kinds, dict):
            raise CatalogError(f"A4 {CATALOG_PATH} answered {answer.status_code}")
        return {
            str(kind): entry["unit_cost_cents"]
            for kind, entry in kinds.items()
            if isinstance(entry, dict) and isinstance(entry.get("unit_cost_cents"), int)
        }

    async def resolve(self, kind: str, lookup_key: str | None = None) -> Resolved:
        body: dict[str, Any] = {"kind": kind}
        if lookup_key is not None:
            body["lookup_key"] = lookup_key
        headers = {
            **synthetic_headers(SyntheticIdentity.STUDENT, idempotency_key=new_idempotency_key()),
            **self.token.authorization,
            TRACE_ID_HEADER: new_trace_id(),
        }
        url = self.system_map.apps[PAYMENTS_APP].base_url + RESOLVE_PATH
        try:
            answer = await self.client.post(url, json=body, headers=headers)
        except httpx.HTTPError as error:
            return Resolved(0, {"detail": f"no answer ({type(error).__name__})"})
        return Resolved(answer.status_code, _json(answer))


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def price_problems(resolved: Resolved, holders: list[StripePrice], expected: int) -> list[str]:
    """How the Prices Stripe holds for the key differ from one active USD Price of
    ``expected`` cents that A2 answered."""
    if resolved.status != 200:
        return [resolved.describe()]
    problems = []
    if resolved.body.get("unit_amount") != expected:
        problems.append(f"A2 answered {resolved.body.get('unit_amount')!r} cents, not {expected}")
    if len(holders) != 1:
        problems.append(f"Stripe lists {len(holders)} Prices with the lookup key, not 1")
        return problems
    price = holders[0]
    if price.id != resolved.text("price_id"):
        problems.append(f"Stripe's Price {price.id} is not the one A2 answered")
    if price.unit_amount != expected:
        problems.append(f"Stripe's Price is {price.unit_amount!r} cents, not {expected}")
    if price.currency != model.CURRENCY:
        problems.append(f"Stripe's Price is in {price.currency!r}, not usd")
    if not price.active:
        problems.append("Stripe's Price is archived")
    return problems


async def check_catalog_prices(skus: SkuClient, stripe: StripeReader) -> Verdict:
    """MON-03: each catalog kind's micro SKU Price, as Stripe lists it by lookup key."""
    rows: list[dict[str, Any]] = []
    violations: list[str] = []
    untested: list[str] = []
    try:
        catalog = await skus.catalog()
    except (CatalogError, httpx.HTTPError) as error:
        catalog, untested = {}, [f"no catalog: {error}"]
    for kind, unit_cost in sorted(catalog.items()):
        expected = model.micro_price_cents(unit_cost)
        resolved = await skus.resolve(kind)
        key = resolved.text("lookup_key")
        try:
            holders = [] if key is None else await stripe.prices(lookup_key=key)
        except StripeReadError as error:
            untested.append(f"{kind}: {error}")
            continue
        problems = price_problems(resolved, holders, expected)
        rows.append(
            {
                "kind": kind,
                "unit_cost_cents": unit_cost,
                "expected_cents": expected,
                "above_floor": expected > model.MICRO_FLOOR_CENTS,
                "lookup_key": key,
                "stripe_prices": [p.id for p in holders],
                "stripe_cents": [p.unit_amount for p in holders],
                "problems": problems,
            }
        )
        if problems:
            violations.append(f"{kind}: {'; '.join(problems)}")
    if catalog and not any(row["above_floor"] for row in rows):
        untested.append("no catalog item's 4x unit cost is above 50 cents: max() untried")
    return rule_verdict(
        PRICE_RULE,
        PAYMENTS_APP,
        cases=len(rows),
        violations=violations,
        untested=untested,
        source="probe+Stripe",
        details={"rule_text": "micro price = max(50, 4 x unit cost) cents USD", "kinds": rows},
    )


async def check_concurrent_resolves(
    skus: SkuClient, stripe: StripeReader, n: int = CONCURRENT_RESOLVES
) -> Verdict:
    """MON-04: ``n`` resolves of one fresh lookup key, released together, leave one Price."""
    lookup_key = f"test_sku_{uuid.uuid4().hex}"
    violations: list[str] = []
    try:
        catalog = await skus.catalog()
    except (CatalogError, httpx.HTTPError) as error:
        return _race_verdict(lookup_key, n, 0, [], [f"no catalog: {error}"], [])
    kind = max(sorted(catalog), key=lambda k: catalog[k])  # the dearest: above the floor
    answers = await asyncio.gather(*(skus.resolve(kind, lookup_key) for _ in range(n)))
    refused = [a.describe() for a in answers if a.status != 200]
    violations += refused
    answered = {a.text("price_id") for a in answers if a.status == 200} - {None}
    if len(answered) > 1:
        violations.append(f"{n} resolves answered {len(answered)} different Prices")
    try:
        holders = await stripe.prices(lookup_key=lookup_key)
        products = {a.text("product_id") for a in answers} - {None}
        products |= {p.product for p in holders if p.product}
        prices = {p.id: p for p in holders}
        for product in sorted(str(p) for p in products):
            prices |= {p.id: p for p in await stripe.prices(product=product)}
    except StripeReadError as error:
        return _race_verdict(lookup_key, n, 0, [], [str(error)], [])
    if len(prices) != 1:
        violations.append(
            f"Stripe holds {len(prices)} Prices for lookup key {lookup_key} after {n} "
            f"concurrent resolves, not 1: {', '.join(sorted(prices))}"
        )
    return _race_verdict(lookup_key, n, len(answers) - len(refused), violations, [], sorted(prices))


def _race_verdict(
    lookup_key: str,
    n: int,
    answered: int,
    violations: list[str],
    untested: list[str],
    prices: list[str],
) -> Verdict:
    return rule_verdict(
        RACE_RULE,
        PAYMENTS_APP,
        cases=answered,
        violations=violations,
        untested=untested,
        source="probe+Stripe",
        details={
            "lookup_key": lookup_key,
            "concurrent_resolves": n,
            "answered": answered,
            "stripe_prices": prices,
        },
    )
