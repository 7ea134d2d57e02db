"""A2's micro-charge through the real Stripe SDK, its lineage in A8; A6's fee arithmetic."""

from __future__ import annotations

from decimal import Decimal

import pytest
import stripe
from reftarget.money import round_half_up

from tests.ecosystem.apps.target import PROVIDER, Target, eventually


def stripe_client(target: Target) -> stripe.StripeClient:
    return stripe.StripeClient(
        target.secrets["STRIPE_SECRET_KEY"],
        base_addresses={"api": target.map["stripe"]["api_base"]},
        max_network_retries=0,
    )


def test_a_micro_charge_is_a_real_payment_intent_joined_by_a8s_lineage(target: Target) -> None:
    headers = target.mutation_headers()
    checkout = target.post("A2", "/v1/checkout", {"kind": "lesson"}, headers).json()
    intent = stripe_client(target).v1.payment_intents.retrieve(checkout["payment_intent_id"])
    assert (intent.amount, intent.currency, intent.status) == (50, "usd", "succeeded")
    settled = target.wait_for_events(headers["X-Trace-Id"], "revenue_settled")
    assert settled[0]["revenue_event_id"] == checkout["revenue_event_id"]
    lineage = target.a8("/v1/dashboards/revenue-lineage")
    [tile] = [t for t in lineage["tiles"] if t["tile"] == "lineage"]
    [item] = [i for i in tile["items"] if i["revenue_event_id"] == checkout["revenue_event_id"]]
    assert item["stripe_object_id"] == intent.id
    assert item["source"]["event"] == "checkout_completed"
    assert item["problems"] == []
    assert item["synthetic"] is True


def test_stripes_signed_webhook_reaches_the_checkout(target: Target) -> None:
    checkout = target.post("A2", "/v1/checkout", {"kind": "lesson"}, target.mutation_headers())
    location = checkout.headers["location"]
    assert eventually(
        lambda: target.get("A2", location, target.auth()).json()["webhook_status"] == "succeeded",
        10.0,
    )


def test_an_unsigned_webhook_is_refused(target: Target) -> None:
    response = target.http.post(
        target.url("A2", "/v1/stripe/webhook"),
        content=b'{"id": "evt_forged", "type": "payment_intent.succeeded"}',
        headers={"Stripe-Signature": "t=1,v1=00"},
    )
    assert response.status_code == 400


def test_a_checkout_of_another_tenant_is_404(target: Target) -> None:
    checkout = target.post("A2", "/v1/checkout", {"kind": "lesson"}, target.mutation_headers())
    assert target.get("A2", checkout.headers["location"], target.auth(PROVIDER)).status_code == 404


@pytest.mark.parametrize("gross", [50, 83, 117, 150, 250, 1650, 99_999])
def test_the_provider_fee_is_three_percent_rounded_half_up(target: Target, gross: int) -> None:
    target.post("A6", "/v1/providers", {"display_name": "QA"}, target.mutation_headers(PROVIDER))
    bill = target.post(
        "A6", "/v1/billing", {"gross_cents": gross}, target.mutation_headers(PROVIDER)
    )
    assert bill.status_code == 201, bill.text
    body = bill.json()
    expected = round_half_up(Decimal(gross) * Decimal("0.03"))
    assert (body["fee_cents"], body["net_cents"]) == (expected, gross - expected)
    assert body["finance_metrics"]["fee_rate"] == "0.03"


def test_billing_under_stripes_minimum_is_refused(target: Target) -> None:
    target.post("A6", "/v1/providers", {"display_name": "QA"}, target.mutation_headers(PROVIDER))
    bill = target.post("A6", "/v1/billing", {"gross_cents": 49}, target.mutation_headers(PROVIDER))
    assert bill.status_code == 400
