"""The B2C micro-charge: one confirmed PaymentIntent, server side.

Why these parameters:

- ``confirm=True`` with a saved payment method: the charge happens in the API call, so success
  is read from the PaymentIntent, never from a browser (Stripe's hosted UI cannot be automated).
- ``allowed_payment_method_types=["card"]``: the SDK's API version (2026-10-28.endive) refuses
  the older ``payment_method_types`` (400 ``payment_method_types_no_longer_supported``), and
  without either, dynamic payment methods would demand a ``return_url`` for redirect methods.
  localstripe knows only the old name (and refuses ``automatic_payment_methods``); the
  embedded server renames it (``intent_compat``), so this code is what real Stripe gets.
- The caller's idempotency key goes into the request options, i.e. Stripe's
  ``Idempotency-Key`` header: real Stripe then charges once however often A2 retries. The
  embedded fake ignores the header, which is why A2 also dedupes on its own (contract §4).
- Amount and metadata are checked here against Stripe's rules (USD minimum 50 cents, metadata
  limits) so that the fake, which does not enforce them, refuses what Stripe would refuse.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import stripe

__all__ = ["ChargeRef", "PaymentDeclined", "create_micro_charge"]

USD_MINIMUM_CENTS = 50
_CURRENCY = re.compile(r"^[a-z]{3}$")
_METADATA_MAX_KEYS = 50
_METADATA_KEY_MAX = 40
_METADATA_VALUE_MAX = 500
_IDEMPOTENCY_KEY_MAX = 255


@dataclass(frozen=True)
class ChargeRef:
    """What A2 keeps of a micro-charge: the PaymentIntent is the Stripe object of record."""

    payment_intent_id: str
    status: str
    amount_cents: int


class PaymentDeclined(Exception):
    """The card was declined (Stripe ``CardError``, HTTP 402); nothing was charged."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None,
        decline_code: str | None,
        payment_intent_id: str | None,
        charge_id: str | None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.decline_code = decline_code
        self.payment_intent_id = payment_intent_id
        self.charge_id = charge_id

    @classmethod
    def from_card_error(cls, error: stripe.CardError) -> PaymentDeclined:
        details = error.error
        intent = details.payment_intent if details is not None else None
        return cls(
            f"payment declined: {error.user_message or 'card declined'}",
            code=error.code,
            decline_code=details.decline_code if details is not None else None,
            payment_intent_id=intent.id if intent is not None else None,
            charge_id=details.charge if details is not None else None,
        )


def create_micro_charge(
    client: stripe.StripeClient,
    *,
    amount_cents: int,
    currency: str,
    idempotency_key: str,
    metadata: dict[str, str],
    payment_method: str = "pm_card_visa",
) -> ChargeRef:
    """Charge ``amount_cents`` now; raise ``PaymentDeclined`` if the card is declined.

    A card that needs authentication (3DS) is not an error here: the answer's status is then
    ``requires_action`` and the caller decides.
    """
    _check_amount(amount_cents, currency)
    _check_idempotency_key(idempotency_key)
    _check_metadata(metadata)
    try:
        intent = client.v1.payment_intents.create(
            params={
                "amount": amount_cents,
                "currency": currency,
                "payment_method": payment_method,
                "allowed_payment_method_types": ["card"],
                "confirm": True,
                "metadata": dict(metadata),
            },
            options={"idempotency_key": idempotency_key},
        )
    except stripe.CardError as error:
        raise PaymentDeclined.from_card_error(error) from error
    return ChargeRef(payment_intent_id=intent.id, status=intent.status, amount_cents=intent.amount)


def _check_amount(amount_cents: int, currency: str) -> None:
    if not _CURRENCY.match(currency):
        raise ValueError(f"currency must be a lower-case ISO code like 'usd', got {currency!r}")
    if isinstance(amount_cents, bool) or amount_cents <= 0:
        raise ValueError(f"amount_cents must be a positive int, got {amount_cents!r}")
    if currency == "usd" and amount_cents < USD_MINIMUM_CENTS:
        raise ValueError(
            f"Stripe refuses USD charges under {USD_MINIMUM_CENTS} cents, got {amount_cents}"
        )


def _check_idempotency_key(key: str) -> None:
    if not 1 <= len(key) <= _IDEMPOTENCY_KEY_MAX:
        raise ValueError(f"idempotency_key must be 1..{_IDEMPOTENCY_KEY_MAX} characters")


def _check_metadata(metadata: Mapping[str, str]) -> None:
    if len(metadata) > _METADATA_MAX_KEYS:
        raise ValueError(f"Stripe metadata takes at most {_METADATA_MAX_KEYS} keys")
    for key, value in metadata.items():
        if not key or len(key) > _METADATA_KEY_MAX or "[" in key or "]" in key:
            raise ValueError(f"invalid Stripe metadata key {key!r}")
        if len(value) > _METADATA_VALUE_MAX:
            raise ValueError(f"Stripe metadata value for {key!r} exceeds {_METADATA_VALUE_MAX}")
