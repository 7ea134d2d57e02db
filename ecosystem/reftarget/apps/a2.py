"""A2, payments: the B2C micro-charge checkout through the Stripe API, and Stripe webhooks.

``POST /v1/checkout`` prices one unit of a work kind as the micro SKU
(``max(50, 4 x unit cost)`` cents, its Stripe Price found by lookup key or created once),
charges it as one confirmed PaymentIntent whose Stripe idempotency key is derived from the
request's ``X-Idempotency-Key`` (a retry that re-runs the handler asks Stripe for the same
charge), records the checkout, and emits ``checkout_completed`` and ``revenue_settled``
sharing one ``revenue_event_id``, each with ``finance_metrics.stripe_object_id`` = the
PaymentIntent, which is how A8's revenue lineage joins them.

``POST /v1/stripe/webhook`` is Stripe's protocol endpoint: no A1 token and no §4 headers
(Stripe sends neither); the ``Stripe-Signature`` is verified instead, and each Stripe event
id is processed once (a redelivery answers 200 ``duplicate: true``).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from typing import Any

import httpx
import stripe
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from reftarget import money
from reftarget.apps.checkout_page import CheckoutPages, CheckoutRecords
from reftarget.apps.domain_errors import DOMAIN_ERROR_HANDLERS
from reftarget.apps.settlement import settlement_metrics, stripe_metadata
from reftarget.apps.stripe_access import stripe_client, stripe_ready_check
from reftarget.core.app import AppDefinition, AppRuntime
from reftarget.core.auth import fetch_for_tenant
from reftarget.core.body import json_object, text_field
from reftarget.core.context import RequestContext, request_context
from reftarget.core.openapi import Endpoint
from reftarget.core.problem import problem_response
from reftarget.core.service_client import derived_idempotency_key
from reftarget.core.settings import AppSettings
from reftarget.core.synthetic_identities import synthetic_identity_endpoints
from reftarget.domain import WorkCatalog
from reftarget.payments import (
    InvalidSignature,
    PaymentDeclined,
    create_micro_charge,
    register_webhook,
    resolve_micro_price,
    verify_event,
)
from reftarget.payments.pricing import micro_sku_lookup_key

ROLE = "payments"
WEBHOOK_PATH = "/v1/stripe/webhook"
WEBHOOK_EVENTS = ("payment_intent.succeeded", "payment_intent.payment_failed")
REGISTER_RETRY_S = 1.0
# The Stripe test payment methods the checkout takes: those that real Stripe and the
# embedded Stripe server (localstripe) treat alike. localstripe knows no other card by id
# (pm_card_mastercard 404s) and does not decline pm_card_visa_chargeDeclined when charged;
# it declines pm_card_chargeCustomerFail (card 4000000000000341) with 402 card_declined,
# as real Stripe declines that card's charges: the decline a checkout can ask for.
APPROVED_TEST_CARD = "pm_card_visa"
DECLINING_TEST_CARD = "pm_card_chargeCustomerFail"
TEST_PAYMENT_METHODS = frozenset({APPROVED_TEST_CARD, DECLINING_TEST_CARD})
# A lookup key a synthetic caller may name for the micro SKU resolve (so the harness can
# resolve a fresh key without touching the kinds' own keys).
SYNTHETIC_LOOKUP_KEY = re.compile(r"^test_[A-Za-z0-9_]{1,100}$")


SCHEMA = """
CREATE TABLE IF NOT EXISTS a2_checkouts (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    price_id TEXT NOT NULL,
    payment_intent_id TEXT NOT NULL,
    status TEXT NOT NULL,
    revenue_event_id TEXT NOT NULL,
    webhook_status TEXT,
    created_at TEXT NOT NULL,
    subject TEXT  -- the token's sub: whose checkout (synthetic-identity deletion, §5)
);
CREATE INDEX IF NOT EXISTS a2_checkouts_intent ON a2_checkouts (payment_intent_id);
CREATE TABLE IF NOT EXISTS a2_webhook_events (
    event_id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    received_at TEXT NOT NULL
);
"""
_COLUMNS = (
    "id",
    "kind",
    "amount_cents",
    "currency",
    "price_id",
    "payment_intent_id",
    "status",
    "revenue_event_id",
    "webhook_status",
    "created_at",
)


def _checkout_json(row: Any) -> dict[str, Any]:
    return {name: row[name] for name in _COLUMNS}


class PaymentsService:
    """The handlers of A2."""

    def __init__(self, settings: AppSettings, runtime: AppRuntime) -> None:
        self.settings = settings
        self.runtime = runtime
        runtime.db.executescript(SCHEMA)
        self.catalog = WorkCatalog()
        self.stripe = stripe_client(settings)
        self.registration: asyncio.Task[None] | None = None

    async def checkout(self, request: Request) -> Response:
        context = request_context(request)
        body = await json_object(request)
        kind = text_field(body, "kind", default="lesson")
        payment_method = text_field(body, "payment_method", default="pm_card_visa")
        if payment_method not in TEST_PAYMENT_METHODS:
            return problem_response(
                400, "invalid-body", f"payment_method must be one of {sorted(TEST_PAYMENT_METHODS)}"
            )
        tenant_id, subject = context.principal()
        outcome = await self.charge(context, tenant_id, subject, kind, payment_method)
        if isinstance(outcome, Response):
            return outcome
        row, metrics = outcome
        return JSONResponse(
            _checkout_json(row) | {"finance_metrics": metrics},
            status_code=201,
            headers={"Location": f"/v1/checkouts/{row['id']}"},
        )

    async def charge(
        self,
        context: RequestContext,
        tenant_id: str,
        subject: str,
        kind: str,
        payment_method: str,
    ) -> Response | tuple[Any, dict[str, Any]]:
        """One micro-charge for the JSON API and the checkout page alike: price, confirmed
        PaymentIntent, checkout row, events; (row, finance metrics), or a problem response
        when Stripe declines or fails. The ``approved_test_card`` fault (off) charges the
        declining test card whatever was asked."""
        if not self.runtime.faults.rule_enabled("approved_test_card"):
            payment_method = DECLINING_TEST_CARD
        unit_cost = self.catalog.unit_cost_cents(kind)
        checkout_id = f"chk_{uuid.uuid4().hex}"
        try:
            price = await run_in_threadpool(
                resolve_micro_price,
                self.stripe,
                unit_cost_cents=unit_cost,
                lookup_key=micro_sku_lookup_key(kind),
                locked=self.runtime.faults.rule_enabled("sku_resolve_lock"),
            )
            charge = await run_in_threadpool(
                create_micro_charge,
                self.stripe,
                amount_cents=price.unit_amount,
                currency=price.currency,
                idempotency_key=derived_idempotency_key(context, "stripe-charge"),
                metadata={
                    "checkout_id": checkout_id,
                    "tenant_id": tenant_id,
                    **stripe_metadata(context.trace_id, context.tags.test_run, context.tags.source),
                },
                payment_method=payment_method,
            )
        except PaymentDeclined as exc:
            return problem_response(402, "payment-declined", str(exc))
        except stripe.StripeError as exc:
            return problem_response(502, "stripe-failed", f"Stripe did not charge: {exc}")
        if charge.status != "succeeded":
            return problem_response(
                402, "payment-incomplete", f"The PaymentIntent is {charge.status}."
            )
        revenue_event_id = f"rev_{uuid.uuid4().hex}"
        self.runtime.db.execute(
            "INSERT INTO a2_checkouts (id, tenant_id, kind, amount_cents, currency, price_id,"
            " payment_intent_id, status, revenue_event_id, created_at, subject)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 'completed', ?, ?, ?)",
            (
                checkout_id,
                tenant_id,
                kind,
                charge.amount_cents,
                price.currency,
                price.id,
                charge.payment_intent_id,
                revenue_event_id,
                self.runtime.clock.now().isoformat(),
                subject,
            ),
        )
        metrics = money.finance_metrics(
            currency=price.currency,
            gross_cents=charge.amount_cents,
            cost_cents=unit_cost,
            markup=money.MICRO_MARKUP,
            billed_cents=money.marked_up_cents(unit_cost, money.MICRO_MARKUP),
            net_cents=charge.amount_cents,
            stripe_object_id=charge.payment_intent_id,
        )
        settled = settlement_metrics(self.runtime.faults, metrics)
        for event, event_metrics in (("checkout_completed", metrics), ("revenue_settled", settled)):
            self.runtime.events.business(
                context,
                event,
                status=201,
                finance_metrics=event_metrics,
                revenue_event_id=revenue_event_id,
                tenant_id=tenant_id,  # the checkout page's request carries no token
            )
        row = fetch_for_tenant(
            self.runtime.db, "a2_checkouts", checkout_id, tenant_id, self.runtime.faults
        )
        return row, metrics

    async def resolve_sku(self, request: Request) -> Response:
        """The micro SKU's Price for one work kind (harness extension, contract §7): found by
        lookup key or created once. A synthetic request may name a fresh ``test_…`` key."""
        context = request_context(request)
        body = await json_object(request)
        kind = text_field(body, "kind", default="lesson")
        unit_cost = self.catalog.unit_cost_cents(kind)
        lookup_key = micro_sku_lookup_key(kind)
        if body.get("lookup_key") is not None:
            named = text_field(body, "lookup_key")
            if not context.tags.test_run:  # 400, not 403: the document lists 400 here
                return problem_response(
                    400, "invalid-body", "Only a synthetic request (X-Test-Run) names a key."
                )
            if not SYNTHETIC_LOOKUP_KEY.match(named):
                return problem_response(
                    400, "invalid-body", f"lookup_key must match {SYNTHETIC_LOOKUP_KEY.pattern}"
                )
            lookup_key = named
        try:
            price = await run_in_threadpool(
                resolve_micro_price,
                self.stripe,
                unit_cost_cents=unit_cost,
                lookup_key=lookup_key,
                locked=self.runtime.faults.rule_enabled("sku_resolve_lock"),
            )
        except stripe.StripeError as exc:
            return problem_response(502, "stripe-failed", f"Stripe did not resolve: {exc}")
        # The Price is shared by every tenant; the asking tenant makes each answer its own,
        # so a replay across tenants is told apart from a fresh answer (TEN-22).
        return JSONResponse(
            {
                "tenant_id": context.tenant_id,
                "kind": kind,
                "unit_cost_cents": unit_cost,
                "lookup_key": price.lookup_key,
                "price_id": price.id,
                "product_id": price.product_id,
                "unit_amount": price.unit_amount,
                "currency": price.currency,
            }
        )

    async def get_checkout(self, request: Request) -> Response:
        row = fetch_for_tenant(
            self.runtime.db,
            "a2_checkouts",
            request.path_params["checkout_id"],
            request_context(request).tenant_id,
            self.runtime.faults,
            resource="checkout",
        )
        return JSONResponse(_checkout_json(row))

    async def webhook(self, request: Request) -> Response:
        payload = await request.body()
        try:
            event = verify_event(
                payload,
                request.headers.get("stripe-signature", ""),
                self.settings.secrets["STRIPE_WEBHOOK_SECRET"],
            )
        except (InvalidSignature, ValueError):
            return problem_response(400, "invalid-signature", "The Stripe-Signature is invalid.")
        event_id, event_type = str(event.get("id", "")), str(event.get("type", ""))
        first = (
            self.runtime.db.execute(
                "INSERT INTO a2_webhook_events (event_id, type, received_at) VALUES (?, ?, ?)"
                " ON CONFLICT (event_id) DO NOTHING",
                (event_id, event_type, self.runtime.clock.now().isoformat()),
            ).rowcount
            == 1
        )
        intent = event.get("data", {}).get("object", {})
        if first and event_type in WEBHOOK_EVENTS and isinstance(intent, dict):
            self.runtime.db.execute(
                "UPDATE a2_checkouts SET webhook_status = ? WHERE payment_intent_id = ?",
                (event_type.rsplit(".", 1)[-1], str(intent.get("id", ""))),
            )
        return JSONResponse({"received": True, "duplicate": not first})

    async def _register_webhook(self) -> None:
        """Keep trying until the Stripe server takes the registration (it may start later)."""
        while True:
            try:
                await run_in_threadpool(
                    register_webhook,
                    self.settings.topology.stripe_api_base,
                    url=self.settings.base_url + WEBHOOK_PATH,
                    secret=self.settings.secrets["STRIPE_WEBHOOK_SECRET"],
                    events=list(WEBHOOK_EVENTS),
                )
                return
            except httpx.HTTPError:
                await asyncio.sleep(REGISTER_RETRY_S)

    async def start(self) -> None:
        self.registration = asyncio.create_task(self._register_webhook())

    async def stop(self) -> None:
        if self.registration is not None:
            self.registration.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.registration


def build(settings: AppSettings, runtime: AppRuntime) -> AppDefinition:
    service = PaymentsService(settings, runtime)
    pages = CheckoutPages(runtime, service.charge, settings.base_url, service.catalog.kinds())
    return AppDefinition(
        role=ROLE,
        endpoints=[
            *pages.endpoints(),
            *synthetic_identity_endpoints(CheckoutRecords(runtime)),
            Endpoint(
                "POST",
                "/v1/checkout",
                service.checkout,
                "Buy one unit of work as the micro SKU (a confirmed Stripe PaymentIntent)",
                success_status=201,
                request_example={"kind": "lesson", "payment_method": "pm_card_visa"},
                request_schema={
                    "type": "object",
                    "properties": {
                        "kind": {"type": "string", "enum": sorted(service.catalog.kinds())},
                        "payment_method": {"type": "string", "enum": sorted(TEST_PAYMENT_METHODS)},
                    },
                },
                emits=("checkout_completed", "revenue_settled"),
            ),
            Endpoint("GET", "/v1/checkouts/{checkout_id}", service.get_checkout, "One checkout"),
            Endpoint(
                "POST",
                "/v1/micro-sku/resolve",
                service.resolve_sku,
                "The micro SKU's Stripe Price for a work kind: max(50, 4 x unit cost) cents USD",
                request_example={"kind": "lesson"},
                request_schema={
                    "type": "object",
                    "properties": {
                        "kind": {"type": "string", "enum": sorted(service.catalog.kinds())},
                        "lookup_key": {"type": "string", "pattern": SYNTHETIC_LOOKUP_KEY.pattern},
                    },
                },
            ),
            Endpoint(
                "POST",
                WEBHOOK_PATH,
                service.webhook,
                "Stripe webhook (Stripe-Signature verified; each event id processed once)",
                public=True,
                protocol=True,
            ),
        ],
        ready_checks={"stripe": stripe_ready_check(settings, runtime.http)},
        exception_handlers=DOMAIN_ERROR_HANDLERS,
        on_startup=[service.start],
        on_shutdown=[service.stop],
    )
