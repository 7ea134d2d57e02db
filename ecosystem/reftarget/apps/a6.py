"""A6, provider portal (B2B): registration, listings, and billing with the 3 % fee.

Billing charges the gross through Stripe (a confirmed PaymentIntent: the Stripe object the
revenue lineage joins to) and then records the platform fee, ``round_half_up(gross x 3 %)``,
and the net payout. Stripe refuses USD charges under 50 cents, so billing does too (400).
The ``fee_rounding`` fault truncates the fee in the answer and the events (the ledger keeps
the right one), which is the bug the harness's fee arithmetic must catch; the ``markup`` fault
likewise bills A4 work at its cost. The Stripe charge carries the lineage metadata
(``test_run``, ``source``, ``trace_id``), and ``revenue_settled`` the source's metrics, unless
a lineage fault spoils them (:mod:`reftarget.apps.settlement`).

A tenant is one provider organisation: registering again, by the same subject or another
member of the tenant (the synthetic providers test_provider_e2e_NN share one), answers 200
with the existing provider and ``already_registered`` (no second ``provider_registered``).
The browser side is A6's portal (:mod:`reftarget.apps.a6_portal`).
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import Any

import stripe
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from reftarget import money
from reftarget.apps.a6_portal import portal_routes
from reftarget.apps.domain_errors import DOMAIN_ERROR_HANDLERS
from reftarget.apps.settlement import settlement_metrics, stripe_metadata
from reftarget.apps.stripe_access import stripe_client, stripe_ready_check
from reftarget.core.app import AppDefinition, AppRuntime
from reftarget.core.body import int_field, json_object, optional_int_field, text_field
from reftarget.core.context import RequestContext, request_context
from reftarget.core.db import app_db_path
from reftarget.core.openapi import Endpoint
from reftarget.core.problem import problem_response
from reftarget.core.service_client import derived_idempotency_key
from reftarget.core.settings import AppSettings
from reftarget.domain import Database, ProviderAlreadyRegistered, ProviderPortal
from reftarget.domain.providers import BillingRecord, Listing, Provider
from reftarget.domain.records import Emitted
from reftarget.payments import PaymentDeclined, create_micro_charge

ROLE = "provider_portal"
CURRENCY = "usd"
MINIMUM_GROSS_CENTS = 50


def truncated_fee_cents(gross_cents: int) -> int:
    """The *wrong* fee of the ``fee_rounding`` fault: gross x 3 %, rounded down."""
    return int((Decimal(gross_cents) * money.PROVIDER_FEE_RATE).to_integral_value(ROUND_DOWN))


def _provider_json(provider: Provider) -> dict[str, Any]:
    return {
        "provider_id": provider.provider_id,
        "tenant_id": provider.tenant_id,
        "subject": provider.subject,
        "display_name": provider.display_name,
        "registered_at": provider.registered_at.isoformat(),
    }


def _listing_json(listing: Listing) -> dict[str, Any]:
    return {
        "listing_id": listing.listing_id,
        "provider_id": listing.provider_id,
        "title": listing.title,
        "price_cents": listing.price_cents,
        "status": listing.status.value,
        "created_at": listing.created_at.isoformat(),
        "published_at": None if listing.published_at is None else listing.published_at.isoformat(),
    }


class ProviderPortalService:
    """The handlers of A6."""

    def __init__(self, settings: AppSettings, runtime: AppRuntime) -> None:
        self.runtime = runtime
        self.portal = ProviderPortal(Database(app_db_path(settings.state_dir, "A6")), runtime.clock)
        self.stripe = stripe_client(settings)

    def _emit(self, context: RequestContext, emitted: tuple[Emitted, ...], status: int) -> None:
        for event in emitted:
            self.runtime.events.business(context, event.event_name, status=status)

    def _own_provider(self, context: RequestContext) -> Provider | None:
        tenant_id, _ = context.principal()
        return self.portal.provider_for_tenant(tenant_id)

    async def register(self, request: Request) -> Response:
        context = request_context(request)
        display_name = text_field(await json_object(request), "display_name")
        tenant_id, subject = context.principal()
        try:
            registration = self.portal.register(tenant_id, subject, display_name)
        except ProviderAlreadyRegistered as exc:
            # Another member of the organisation (tenant) joins the provider it already has.
            return JSONResponse(_provider_json(exc.existing) | {"already_registered": True})
        self._emit(context, registration.emitted, 201)
        return JSONResponse(
            _provider_json(registration.provider) | {"already_registered": False},
            status_code=201,
        )

    async def me(self, request: Request) -> Response:
        provider = self._own_provider(request_context(request))
        if provider is None:
            return problem_response(404, "not-found", "This tenant has no registered provider.")
        return JSONResponse(_provider_json(provider))

    async def create_listing(self, request: Request) -> Response:
        context = request_context(request)
        body = await json_object(request)
        title = text_field(body, "title")
        price_cents = optional_int_field(body, "price_cents", maximum=10**8)
        provider = self._own_provider(context)
        if provider is None:
            return problem_response(409, "not-registered", "Register first: POST /v1/providers.")
        listing = self.portal.create_listing(
            provider.tenant_id, provider.provider_id, title, price_cents=price_cents
        )
        return JSONResponse(
            _listing_json(listing),
            status_code=201,
            headers={"Location": f"/v1/listings/{listing.listing_id}"},
        )

    async def publish_listing(self, request: Request) -> Response:
        context = request_context(request)
        tenant_id, _ = context.principal()
        change = self.portal.publish_listing(tenant_id, request.path_params["listing_id"])
        self._emit(context, change.emitted, 200)
        return JSONResponse(_listing_json(change.listing) | {"changed": change.changed})

    async def get_listing(self, request: Request) -> Response:
        tenant_id, _ = request_context(request).principal()
        return JSONResponse(
            _listing_json(self.portal.listing(tenant_id, request.path_params["listing_id"]))
        )

    async def list_listings(self, request: Request) -> Response:
        tenant_id, _ = request_context(request).principal()
        return JSONResponse({"items": [_listing_json(x) for x in self.portal.listings(tenant_id)]})

    def _billing_view(self, record: BillingRecord, stripe_object_id: str) -> dict[str, Any]:
        fee = record.fee_cents
        if not self.runtime.faults.rule_enabled("fee_rounding"):
            fee = truncated_fee_cents(record.gross_cents)
        billed = record.billed_cents
        if not self.runtime.faults.rule_enabled("markup"):
            billed = record.cost_cents  # the markup fault: work billed at its cost
        metrics = money.finance_metrics(
            currency=CURRENCY,
            gross_cents=record.gross_cents,
            fee_rate=record.fee_rate,
            fee_cents=fee,
            net_cents=record.gross_cents - fee,
            cost_cents=record.cost_cents,
            markup=record.markup,
            billed_cents=billed,
            stripe_object_id=stripe_object_id,
        )
        return {
            "billing_id": record.billing_id,
            "revenue_event_id": record.revenue_event_id,
            "provider_id": record.provider_id,
            "gross_cents": record.gross_cents,
            "fee_rate": metrics["fee_rate"],
            "fee_cents": fee,
            "net_cents": record.gross_cents - fee,
            "stripe_object_id": stripe_object_id,
            "finance_metrics": metrics,
        }

    async def bill(self, request: Request) -> Response:
        context = request_context(request)
        body = await json_object(request)
        gross = int_field(body, "gross_cents", minimum=MINIMUM_GROSS_CENTS, maximum=10**8)
        work_cost = optional_int_field(body, "work_cost_cents", maximum=10**8)
        provider = self._own_provider(context)
        if provider is None:
            return problem_response(409, "not-registered", "Register first: POST /v1/providers.")
        try:
            charge = await run_in_threadpool(
                create_micro_charge,
                self.stripe,
                amount_cents=gross,
                currency=CURRENCY,
                idempotency_key=derived_idempotency_key(context, "stripe-billing"),
                metadata={
                    "tenant_id": provider.tenant_id,
                    "provider_id": provider.provider_id,
                    **stripe_metadata(context.trace_id, context.tags.test_run, context.tags.source),
                },
            )
        except PaymentDeclined as exc:
            return problem_response(402, "payment-declined", str(exc))
        except stripe.StripeError as exc:
            return problem_response(502, "stripe-failed", f"Stripe did not charge: {exc}")
        record = self.portal.bill(
            provider.tenant_id, provider.provider_id, gross, work_cost_cents=work_cost
        )
        view = self._billing_view(record, charge.payment_intent_id)
        settled = settlement_metrics(self.runtime.faults, view["finance_metrics"])
        for event, metrics in (
            ("provider_billed", view["finance_metrics"]),
            ("revenue_settled", settled),
        ):
            self.runtime.events.business(
                context,
                event,
                status=201,
                finance_metrics=metrics,
                revenue_event_id=record.revenue_event_id,
            )
        return JSONResponse(view, status_code=201)


def build(settings: AppSettings, runtime: AppRuntime) -> AppDefinition:
    service = ProviderPortalService(settings, runtime)
    return AppDefinition(
        role=ROLE,
        endpoints=[
            Endpoint(
                "POST",
                "/v1/providers",
                service.register,
                "Register the tenant's provider organisation",
                success_status=201,
                request_example={"display_name": "Acme Tutoring"},
                request_schema={
                    "type": "object",
                    "required": ["display_name"],
                    "properties": {"display_name": {"type": "string", "maxLength": 200}},
                },
                emits=("provider_registered",),
                funnel_step="b2b.register",
            ),
            Endpoint("GET", "/v1/providers/me", service.me, "The tenant's provider"),
            Endpoint(
                "POST",
                "/v1/listings",
                service.create_listing,
                "Create a draft listing",
                success_status=201,
                request_example={"title": "Algebra crash course", "price_cents": 1500},
                request_schema={
                    "type": "object",
                    "required": ["title"],
                    "properties": {
                        "title": {"type": "string", "maxLength": 200},
                        "price_cents": {"type": "integer", "minimum": 0},
                    },
                },
                funnel_step="b2b.listing",
            ),
            Endpoint("GET", "/v1/listings", service.list_listings, "The tenant's listings"),
            Endpoint("GET", "/v1/listings/{listing_id}", service.get_listing, "One listing"),
            Endpoint(
                "POST",
                "/v1/listings/{listing_id}/publish",
                service.publish_listing,
                "Publish a draft listing (once)",
                request_example={},
                request_schema={"type": "object"},
                emits=("provider_listing_published",),
                funnel_step="b2b.publish",
            ),
            Endpoint(
                "POST",
                "/v1/billing",
                service.bill,
                "Bill the provider: charge gross via Stripe, fee = round_half_up(gross x 3 %)",
                success_status=201,
                request_example={"gross_cents": 1650, "work_cost_cents": 12},
                request_schema={
                    "type": "object",
                    "required": ["gross_cents"],
                    "properties": {
                        "gross_cents": {"type": "integer", "minimum": MINIMUM_GROSS_CENTS},
                        "work_cost_cents": {"type": "integer", "minimum": 0},
                    },
                },
                emits=("provider_billed", "revenue_settled"),
                funnel_step="b2b.billing",
            ),
        ],
        ready_checks={"stripe": stripe_ready_check(settings, runtime.http)},
        packages=[portal_routes(settings, service.runtime)],
        exception_handlers=DOMAIN_ERROR_HANDLERS,
    )
