"""create_micro_charge: a confirmed PaymentIntent, declines as PaymentDeclined, Stripe's rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import pytest
import stripe
from reftarget.payments import PaymentDeclined, create_micro_charge

if TYPE_CHECKING:
    from conftest import MakeClient, StripeServer

DECLINED_ON_CHARGE = "4000000000000341"  # attaches fine, declined when charged


class RecordingHttpClient(stripe.RequestsClient):
    """The SDK's own HTTP client, keeping what was sent: the wire is what real Stripe sees."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str, dict[str, str], Any]] = []

    def request(
        self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        self.sent.append((method, url, dict(headers or {}), post_data))
        return super().request(method, url, headers, post_data)


def test_50_cent_micro_charge_succeeds(client: stripe.StripeClient, unique: str) -> None:
    ref = create_micro_charge(
        client, amount_cents=50, currency="usd", idempotency_key=unique, metadata={}
    )

    assert ref.payment_intent_id.startswith("pi_")
    assert (ref.status, ref.amount_cents) == ("succeeded", 50)


def test_micro_charge_carries_its_metadata(client: stripe.StripeClient, unique: str) -> None:
    metadata = {"synthetic": "true", "trace_id": "0af7651916cd43dd8448eb211c80319c"}

    ref = create_micro_charge(
        client, amount_cents=50, currency="usd", idempotency_key=unique, metadata=metadata
    )

    assert client.v1.payment_intents.retrieve(ref.payment_intent_id).metadata.to_dict() == metadata


def test_sends_the_idempotency_key_and_real_stripes_parameters(
    stripe_server: StripeServer, client_for: MakeClient, unique: str
) -> None:
    recorder = RecordingHttpClient()

    create_micro_charge(
        client_for(stripe_server.api_base, recorder),
        amount_cents=50,
        currency="usd",
        idempotency_key=f"checkout-{unique}",
        metadata={},
    )

    [(method, url, headers, body)] = recorder.sent
    form = parse_qs(body.decode() if isinstance(body, bytes) else body)
    assert (method, url) == ("post", f"{stripe_server.api_base}/v1/payment_intents")
    assert headers["Idempotency-Key"] == f"checkout-{unique}"
    assert form["allowed_payment_method_types[0]"] == ["card"]
    assert form["confirm"] == ["true"]
    assert "payment_method_types[0]" not in form  # refused by the SDK's API version


def test_declined_card_raises_payment_declined(client: stripe.StripeClient, unique: str) -> None:
    card = client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": DECLINED_ON_CHARGE, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )

    with pytest.raises(PaymentDeclined) as declined:
        create_micro_charge(
            client,
            amount_cents=50,
            currency="usd",
            idempotency_key=unique,
            metadata={},
            payment_method=card.id,
        )

    assert declined.value.code == "card_declined"
    assert isinstance(declined.value.__cause__, stripe.CardError)


@pytest.mark.parametrize(
    ("amount", "currency", "metadata"),
    [
        (49, "usd", {}),
        (0, "eur", {}),
        (50, "USD", {}),
        (50, "usd", {"k[0]": "v"}),
        (50, "usd", {"k" * 41: "v"}),
        (50, "usd", {"k": "v" * 501}),
        (50, "usd", {f"k{i}": "v" for i in range(51)}),
    ],
    ids=[
        "under-usd-minimum",
        "zero",
        "upper-case-currency",
        "bracket-in-key",
        "long-key",
        "long-value",
        "too-many-keys",
    ],
)
def test_what_stripe_would_refuse_is_refused_before_any_request(
    client_for: MakeClient, free_port: int, amount: int, currency: str, metadata: dict[str, str]
) -> None:
    # Nothing listens at this address: a request would be an APIConnectionError, not ValueError.
    unreachable = client_for(f"http://127.0.0.1:{free_port}")

    with pytest.raises(ValueError):  # noqa: PT011 - one message per rule
        create_micro_charge(
            unreachable,
            amount_cents=amount,
            currency=currency,
            idempotency_key="never-sent",
            metadata=metadata,
        )
