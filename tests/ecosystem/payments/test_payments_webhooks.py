"""Webhooks: signed deliveries over HTTPS to a receiver the server trusts via --ca-bundle."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
import stripe
import trustme
from reftarget.payments import (
    InvalidSignature,
    create_micro_charge,
    register_webhook,
    verify_event,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.loopback import serve

if TYPE_CHECKING:
    from conftest import MakeClient, StartServer, StripeServer

SECRET = "whsec_reftarget_payments_test"
DELIVERY_TIMEOUT_S = 5.0  # localstripe waits 1 s before it delivers


@dataclass(frozen=True)
class Delivery:
    body: bytes
    signature: str

    def object_id(self) -> Any:
        return json.loads(self.body)["data"]["object"]["id"]


@dataclass
class Receiver:
    """An HTTPS endpoint on 127.0.0.1 (certificate from the test CA) that keeps every POST.

    ``url`` is set once the server is up."""

    url: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def endpoint(self, request: Request) -> Response:
        delivery = Delivery(await request.body(), request.headers.get("stripe-signature", ""))
        with self.arrived:
            self.deliveries.append(delivery)
            self.arrived.notify_all()
        return Response(status_code=200)

    def wait_for(self, wanted: Callable[[Delivery], bool], timeout_s: float) -> Delivery:
        with self.arrived:
            found = self.arrived.wait_for(
                lambda: next((d for d in self.deliveries if wanted(d)), None), timeout_s
            )
        if found is None:
            pytest.fail(f"no matching webhook within {timeout_s} s; got {len(self.deliveries)}")
        return found


@pytest.fixture(scope="module")
def receiver(webhook_ca: trustme.CA) -> Iterator[Receiver]:
    hook = Receiver()
    app = Starlette(routes=[Route("/stripe/webhook", hook.endpoint, methods=["POST"])])
    with serve(app, tls=webhook_ca) as served:
        hook.url = f"{served.url}/stripe/webhook"
        yield hook


def _charge(client: stripe.StripeClient, key: str) -> str:
    charge = create_micro_charge(
        client, amount_cents=50, currency="usd", idempotency_key=key, metadata={}
    )
    return charge.payment_intent_id


@pytest.fixture(scope="module")
def delivered(stripe_server: StripeServer, receiver: Receiver) -> tuple[str, Delivery]:
    """One payment_intent.succeeded, delivered over HTTPS: (PaymentIntent id, delivery)."""
    register_webhook(
        stripe_server.api_base,
        url=receiver.url,
        secret=SECRET,
        events=["payment_intent.succeeded"],
        api_key="sk_test_reftarget_payments",
    )
    client = stripe.StripeClient(
        "sk_test_reftarget_payments",
        base_addresses={"api": stripe_server.api_base},
        max_network_retries=0,
    )
    intent_id = _charge(client, "webhook-delivery")
    return intent_id, receiver.wait_for(lambda d: d.object_id() == intent_id, DELIVERY_TIMEOUT_S)


def test_signed_payment_intent_succeeded_arrives_over_https_and_verifies(
    delivered: tuple[str, Delivery],
) -> None:
    intent_id, delivery = delivered

    event = verify_event(delivery.body, delivery.signature, SECRET)

    assert event["type"] == "payment_intent.succeeded"
    assert event["data"]["object"]["id"] == intent_id
    assert event["data"]["object"]["amount"] == 50


def test_wrong_secret_raises_invalid_signature(delivered: tuple[str, Delivery]) -> None:
    _, delivery = delivered

    with pytest.raises(InvalidSignature):
        verify_event(delivery.body, delivery.signature, "whsec_not_the_secret")


def test_tampered_body_raises_invalid_signature() -> None:
    body = json.dumps({"id": "evt_1", "type": "payment_intent.succeeded"})
    header = stripe.WebhookSignature.generate_signature_header(body, SECRET)

    with pytest.raises(InvalidSignature):
        verify_event(body.replace("evt_1", "evt_2").encode(), header, SECRET)


def test_stale_signature_raises_invalid_signature() -> None:
    body = json.dumps({"id": "evt_1", "type": "payment_intent.succeeded"})
    header = stripe.WebhookSignature.generate_signature_header(
        body, SECRET, timestamp=int(time.time()) - 301
    )

    with pytest.raises(InvalidSignature):
        verify_event(body.encode(), header, SECRET)


def test_missing_signature_raises_invalid_signature() -> None:
    with pytest.raises(InvalidSignature):
        verify_event(b'{"id": "evt_1"}', "", SECRET)


def test_without_ca_bundle_https_delivery_fails_certificate_verification(
    start_stripe_server: StartServer, client_for: MakeClient, receiver: Receiver
) -> None:
    untrusting = start_stripe_server()  # no --ca-bundle
    register_webhook(
        untrusting.api_base, url=receiver.url, secret=SECRET, events=["payment_intent.succeeded"]
    )

    _charge(client_for(untrusting.api_base), "webhook-untrusted")

    line = untrusting.wait_for_log('webhook "payment_intent.succeeded" failed', DELIVERY_TIMEOUT_S)
    assert "certificate verify failed" in line.lower()


def test_register_webhook_refuses_a_non_http_url(stripe_server: StripeServer) -> None:
    with pytest.raises(ValueError, match="http"):
        register_webhook(stripe_server.api_base, url="ftp://x", secret=SECRET, events=None)
