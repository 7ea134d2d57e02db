"""A Stripe-shaped Price API mounted on localstripe's aiohttp app (server process only).

Why: localstripe 1.15.10 has Products and Plans but no Prices (``/v1/prices`` is a 404), and
A2 resolves its micro SKU by price lookup key. This shim closes that gap and nothing else:
one-time prices only, ``POST /v1/prices``, ``GET /v1/prices`` and ``GET /v1/prices/{id}``, with
Stripe's field names, id prefix, list envelope, error body and lookup-key uniqueness, so that
A2's code is the same against real Stripe. It does not honour ``Idempotency-Key`` (neither does
localstripe): lookup-key uniqueness is what keeps a price from being created twice here.

Prices live in localstripe's own store (key ``price:<id>``), so ``DELETE /_config/data`` empties
them with everything else, and their events (``price.created``, ``price.updated``) go through
localstripe's webhook delivery.

Importing this module imports localstripe, which patches aiohttp and warns: only the
``stripe_server`` process may import it, never a test process.
"""

from __future__ import annotations

import itertools
import re
import secrets
import string
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from localstripe import resources, server, webhooks  # type: ignore[import-untyped]

from reftarget.payments.store_index import objects_of_type

__all__ = ["add_price_routes"]

_ID_ALPHABET = string.ascii_letters + string.digits
_LOOKUP_KEY_MAX = 200  # Stripe's documented limit
_LIST_LIMIT_MAX = 100
_STORE_PREFIX = "price:"
_CURRENCY = re.compile(r"^[a-z]{3}$")
_CREATE_PARAMS = frozenset(
    {
        "active",
        "currency",
        "lookup_key",
        "metadata",
        "nickname",
        "product",
        "product_data",
        "transfer_lookup_key",
        "unit_amount",
    }
)
_LIST_PARAMS = frozenset(
    {"active", "currency", "limit", "lookup_keys", "product", "starting_after"}
)
_PRODUCT_DATA_PARAMS = frozenset({"name", "metadata"})

# Creation order, for Stripe's newest-first lists (``created`` has one-second resolution).
_sequence = itertools.count()


class StripeApiError(Exception):
    """An error answered in Stripe's shape: ``{"error": {"type", "message", "param", "code"}}``."""

    def __init__(
        self, status: int, message: str, *, param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code

    def response(self) -> web.Response:
        error: dict[str, str] = {"type": "invalid_request_error", "message": self.message}
        if self.param is not None:
            error["param"] = self.param
        if self.code is not None:
            error["code"] = self.code
        return web.json_response({"error": error}, status=self.status)


@dataclass
class Price:
    """One one-time price; ``_export`` is the method localstripe's Event and store expect."""

    id: str
    currency: str
    unit_amount: int
    product: str
    lookup_key: str | None
    active: bool
    nickname: str | None
    metadata: dict[str, str]
    created: int = field(default_factory=lambda: int(time.time()))
    sequence: int = field(default_factory=lambda: next(_sequence))

    def _export(self, expand: object = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "price",
            "active": self.active,
            "billing_scheme": "per_unit",
            "created": self.created,
            "currency": self.currency,
            "custom_unit_amount": None,
            "livemode": False,
            "lookup_key": self.lookup_key,
            "metadata": dict(self.metadata),
            "nickname": self.nickname,
            "product": self.product,
            "recurring": None,
            "tax_behavior": "unspecified",
            "tiers_mode": None,
            "transform_quantity": None,
            "type": "one_time",
            "unit_amount": self.unit_amount,
            "unit_amount_decimal": str(self.unit_amount),
        }


Handler = Callable[[web.Request], Awaitable[web.Response]]


def add_price_routes(app: web.Application) -> None:
    """Mount the Price API on ``app`` (localstripe's app, so its auth middleware applies)."""
    app.router.add_post("/v1/prices", _answering_errors(create_price))
    app.router.add_get("/v1/prices", _answering_errors(list_prices))
    app.router.add_get("/v1/prices/{id}", _answering_errors(retrieve_price))


def _answering_errors(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except StripeApiError as error:
            return error.response()

    return wrapped


async def create_price(request: web.Request) -> web.Response:
    """``POST /v1/prices``: form-encoded like Stripe (JSON is accepted, as localstripe does)."""
    data = await server.get_post_data(request) or {}
    if not isinstance(data, dict):
        raise StripeApiError(400, "Invalid request body.")
    _refuse_unknown(data, _CREATE_PARAMS)
    currency = _currency(data.get("currency"))
    unit_amount = _unit_amount(data.get("unit_amount"))
    lookup_key = _optional_str(data, "lookup_key", max_len=_LOOKUP_KEY_MAX)
    transfer = _optional_bool(data, "transfer_lookup_key", default=False)
    active = _optional_bool(data, "active", default=True)
    nickname = _optional_str(data, "nickname")
    metadata = _metadata(data.get("metadata"), "metadata")
    if transfer and lookup_key is None:
        raise StripeApiError(
            400, "transfer_lookup_key requires a lookup_key.", param="transfer_lookup_key"
        )

    # Validate everything before the first write: a refused request changes nothing.
    holder = _price_with_lookup_key(lookup_key) if lookup_key is not None else None
    if holder is not None and not transfer:
        raise StripeApiError(
            400, f"A price (`{holder.id}`) already uses that lookup key.", param="lookup_key"
        )
    product_id = _product_for(data)

    price = Price(
        id="price_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(24)),
        currency=currency,
        unit_amount=unit_amount,
        product=product_id,
        lookup_key=lookup_key,
        active=active,
        nickname=nickname,
        metadata=metadata,
    )
    if holder is not None:
        holder.lookup_key = None  # transfer_lookup_key: the key moves to the new price
        _announce("price.updated", holder)
    resources.store[_STORE_PREFIX + price.id] = price
    _announce("price.created", price)
    return web.json_response(price._export())


async def list_prices(request: web.Request) -> web.Response:
    """``GET /v1/prices`` (newest first): ``lookup_keys``, ``active``, ``currency``, ``product``."""
    query = server.unflatten_data(request.query) or {}
    _refuse_unknown(query, _LIST_PARAMS)
    prices = sorted(_all_prices(), key=lambda p: p.sequence, reverse=True)
    if "lookup_keys" in query:
        raw = query["lookup_keys"]
        keys = {raw} if isinstance(raw, str) else set(raw) if isinstance(raw, list) else None
        if not keys or not all(isinstance(k, str) for k in keys):
            raise StripeApiError(400, "Invalid array", param="lookup_keys")
        prices = [p for p in prices if p.lookup_key in keys]
    if "active" in query:
        active = _optional_bool(query, "active", default=True)
        prices = [p for p in prices if p.active is active]
    if "currency" in query:
        currency = _currency(query["currency"])
        prices = [p for p in prices if p.currency == currency]
    if "product" in query:
        prices = [p for p in prices if p.product == query["product"]]
    if "starting_after" in query:
        ids = [p.id for p in prices]
        after = query["starting_after"]
        if after not in ids:
            raise StripeApiError(400, f"No such price: '{after}'", param="starting_after")
        prices = prices[ids.index(after) + 1 :]
    limit = _limit(query.get("limit"))
    return web.json_response(
        {
            "object": "list",
            "data": [p._export() for p in prices[:limit]],
            "has_more": len(prices) > limit,
            "url": "/v1/prices",
        }
    )


async def retrieve_price(request: web.Request) -> web.Response:
    """``GET /v1/prices/{id}``."""
    _refuse_unknown(server.unflatten_data(request.query) or {}, frozenset())
    price_id = request.match_info["id"]
    price = resources.store.get(_STORE_PREFIX + price_id)
    if not isinstance(price, Price):
        raise StripeApiError(
            404, f"No such price: '{price_id}'", param="price", code="resource_missing"
        )
    return web.json_response(price._export())


def _all_prices() -> list[Price]:
    return [p for p in objects_of_type(_STORE_PREFIX.rstrip(":")) if isinstance(p, Price)]


def _price_with_lookup_key(lookup_key: str) -> Price | None:
    # Stripe keeps a lookup key unique across all prices, archived ones included.
    return next((p for p in _all_prices() if p.lookup_key == lookup_key), None)


def _product_for(data: dict[str, Any]) -> str:
    """The product id: an existing ``product``, or a new one from ``product_data``."""
    product, product_data = data.get("product"), data.get("product_data")
    if (product is None) == (product_data is None):
        raise StripeApiError(400, "You must specify exactly one of product or product_data.")
    if product is not None:
        if not isinstance(product, str) or resources.store.get("product:" + product) is None:
            raise StripeApiError(
                400, f"No such product: '{product}'", param="product", code="resource_missing"
            )
        return product
    if not isinstance(product_data, dict):
        raise StripeApiError(400, "Invalid object", param="product_data")
    _refuse_unknown(product_data, _PRODUCT_DATA_PARAMS, prefix="product_data")
    name = product_data.get("name")
    if not isinstance(name, str) or not name:
        raise StripeApiError(
            400, "Missing required param: product_data[name].", param="product_data[name]"
        )
    metadata = _metadata(product_data.get("metadata"), "product_data[metadata]")
    created = resources.Product(name=name, metadata=metadata)
    return str(created.id)


def _announce(event_type: str, price: Price) -> None:
    webhooks.schedule_webhook(resources.Event(event_type, price))


def _refuse_unknown(data: dict[str, Any], known: frozenset[str], prefix: str = "") -> None:
    for name in data:
        if name not in known:
            shown = f"{prefix}[{name}]" if prefix else name
            raise StripeApiError(400, f"Received unknown parameter: {shown}", param=shown)


def _currency(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise StripeApiError(400, "Missing required param: currency.", param="currency")
    currency = value.lower()
    if not _CURRENCY.match(currency):
        raise StripeApiError(400, f"Invalid currency: {value}.", param="currency")
    return currency


def _unit_amount(value: object) -> int:
    if value is None:
        raise StripeApiError(400, "Missing required param: unit_amount.", param="unit_amount")
    text = str(value)
    if not text.isdigit():
        raise StripeApiError(
            400,
            "Invalid non-negative integer",
            param="unit_amount",
            code="parameter_invalid_integer",
        )
    return int(text)


def _optional_str(data: dict[str, Any], name: str, *, max_len: int = 5000) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise StripeApiError(400, f"Invalid string: {name}", param=name)
    if len(value) > max_len:
        raise StripeApiError(
            400, f"Invalid string: {name} must be at most {max_len} characters", param=name
        )
    return value


def _optional_bool(data: dict[str, Any], name: str, *, default: bool) -> bool:
    value = data.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise StripeApiError(400, f"Invalid boolean: {value}", param=name)


def _metadata(value: object, param: str) -> dict[str, str]:
    if value is None or value == "":
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise StripeApiError(400, "Invalid object", param=param)
    return dict(value)


def _limit(value: object) -> int:
    if value is None:
        return 10
    text = str(value)
    if not text.isdigit() or not 1 <= int(text) <= _LIST_LIMIT_MAX:
        raise StripeApiError(
            400, "This value must be between 1 and 100 (inclusive).", param="limit"
        )
    return int(text)
