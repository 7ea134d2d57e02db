"""A2's Stripe side: micro-SKU price resolution, micro-charge, webhook verification.

Everything here uses the official ``stripe`` SDK against whatever ``api_base`` it is given, so
the same code runs against real Stripe and against the embedded fake started with
``python -m reftarget.payments.stripe_server`` (localstripe plus a Price API shim, on
127.0.0.1). This package never imports localstripe: only that server process does.
"""

from reftarget.payments.charges import ChargeRef, PaymentDeclined, create_micro_charge
from reftarget.payments.pricing import PriceRef, resolve_micro_price
from reftarget.payments.readiness import wait_ready
from reftarget.payments.webhooks import InvalidSignature, register_webhook, verify_event

__all__ = [
    "ChargeRef",
    "InvalidSignature",
    "PaymentDeclined",
    "PriceRef",
    "create_micro_charge",
    "register_webhook",
    "resolve_micro_price",
    "verify_event",
    "wait_ready",
]
