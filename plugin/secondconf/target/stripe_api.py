"""A read-only client of the Stripe API the target charges through: Stripe is the second
source for money (contract §11), so the harness reads PaymentIntents and Prices itself.

The API base is the map's ``stripe.api_base`` (the embedded target's own Stripe server), or
Stripe itself when the map names none. The secret key (``STRIPE_SECRET_KEY``) goes only
there, over TLS (plain http only to a loopback host in ``embedded``): a base that breaks
that rule is refused before anything is sent. Reads use retrieve and list, never Stripe
Search, which may lag by a minute and has no read-after-write. Every answer is validated
here; a failure is one :class:`StripeReadError` line (never the key).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx

from secondconf.core.secret import Secret
from secondconf.target.credentials import destination_problem
from secondconf.target.json_answer import get_json_object
from secondconf.target.map import SystemMap

STRIPE_API_BASE: Final = "https://api.stripe.com"
PAGE_LIMIT: Final = 100
MAX_PAGES: Final = 20  # 2,000 prices: far more than one SKU or product ever has


class StripeReadError(Exception):
    """Stripe could not be asked, or answered something that is not a Stripe object."""


@dataclass(frozen=True)
class StripePayment:
    """A PaymentIntent as Stripe holds it."""

    id: str
    amount: int
    currency: str
    status: str
    metadata: Mapping[str, str]


@dataclass(frozen=True)
class StripePrice:
    """A Price as Stripe holds it."""

    id: str
    unit_amount: int | None
    currency: str
    lookup_key: str | None
    product: str
    active: bool


class StripeReader:
    """GETs on the Stripe API with the secret key as a bearer token."""

    def __init__(self, client: httpx.AsyncClient, system_map: SystemMap, secret_key: Secret):
        self._client = client
        self._base = system_map.stripe_api_base or STRIPE_API_BASE
        problem = destination_problem(
            self._base + "/v1", self._base, system_map.env, "the Stripe API base"
        )
        self._refusal = (
            None if problem is None else f"stripe.api_base {problem}; {secret_key.name} not sent"
        )
        self._headers = {"Authorization": f"Bearer {secret_key.reveal()}"}

    async def payment_intent(self, payment_intent_id: str) -> StripePayment:
        where = f"Stripe PaymentIntent {payment_intent_id}"
        body = await self._get(f"/v1/payment_intents/{payment_intent_id}", {}, where)
        metadata = body.get("metadata")
        if not isinstance(metadata, dict):
            raise StripeReadError(f"{where}: no metadata object")
        return StripePayment(
            id=_text(body, "id", where),
            amount=_integer(body, "amount", where),
            currency=_text(body, "currency", where),
            status=_text(body, "status", where),
            metadata={str(k): str(v) for k, v in metadata.items()},
        )

    async def prices(
        self, *, lookup_key: str | None = None, product: str | None = None
    ) -> list[StripePrice]:
        """Every Price with that lookup key or of that product (archived ones too), newest
        first, through every page of the list."""
        params: dict[str, str] = {"limit": str(PAGE_LIMIT)}
        if lookup_key is not None:
            params["lookup_keys[0]"] = lookup_key  # as the stripe SDK encodes a list
        if product is not None:
            params["product"] = product
        where = "Stripe price list (" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")"
        found: list[StripePrice] = []
        for _ in range(MAX_PAGES):
            body = await self._get("/v1/prices", params, where)
            items = body.get("data")
            if not isinstance(items, list):
                raise StripeReadError(f"{where}: no data list")
            found += [_price(item, f"{where} item {i}") for i, item in enumerate(items)]
            if body.get("has_more") is not True or not found:
                return found
            params["starting_after"] = found[-1].id
        raise StripeReadError(f"{where}: more than {MAX_PAGES} pages")

    async def _get(self, path: str, params: Mapping[str, str], where: str) -> dict[str, Any]:
        if self._refusal is not None:
            raise StripeReadError(f"{where}: {self._refusal}")
        return await get_json_object(
            self._client, self._base + path, params, self._headers, where, StripeReadError
        )


def _text(body: Mapping[str, Any], name: str, where: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise StripeReadError(f"{where}: field {name!r} is not a string")
    return value


def _integer(body: Mapping[str, Any], name: str, where: str) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise StripeReadError(f"{where}: field {name!r} is not an integer")
    return value


def _price(item: Any, where: str) -> StripePrice:
    if not isinstance(item, dict):
        raise StripeReadError(f"{where}: not a JSON object")
    amount = item.get("unit_amount")
    product = item.get("product")
    if isinstance(product, dict):  # expanded
        product = product.get("id")
    lookup_key = item.get("lookup_key")
    return StripePrice(
        id=_text(item, "id", where),
        unit_amount=None if amount is None else _integer(item, "unit_amount", where),
        currency=_text(item, "currency", where),
        lookup_key=lookup_key if isinstance(lookup_key, str) else None,
        product=product if isinstance(product, str) else "",
        active=item.get("active") is True,
    )
