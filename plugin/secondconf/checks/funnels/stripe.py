"""Stripe, the second source for money (contract §11): each journey's PaymentIntent
retrieved through the Stripe API and compared with what the journey and A8 say.

The secret key goes only to the map's Stripe API base (else Stripe's own) over https (plain
http only to loopback in ``embedded``); it is read by name through a
:class:`~secondconf.core.secret.Secret` and never printed. Retrieve, not Search: Search lags
up to a minute and offers no read-after-write.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import httpx

from secondconf.checks.funnels.model import PaymentCheck
from secondconf.core.secret import Secret
from secondconf.target.credentials import destination_problem
from secondconf.target.map import SystemMap

STRIPE_API: Final = "https://api.stripe.com"
CURRENCY: Final = "usd"


def stripe_base(system_map: SystemMap) -> str:
    return system_map.stripe_api_base or STRIPE_API


async def retrieve_payment(
    client: httpx.AsyncClient,
    system_map: SystemMap,
    key: Secret,
    payment_intent: str,
    trace_id: str,
    expected_cents: int | None,
) -> PaymentCheck:
    """``GET /v1/payment_intents/{id}`` and every way it disagrees with the journey:
    amount (A8's settled amount), currency, status, and the metadata tags."""
    base = stripe_base(system_map)
    problem = destination_problem(base, base, system_map.env, "Stripe's API")
    if problem is not None:
        return _unchecked(
            payment_intent, trace_id, f"stripe.api_base {problem}; {key.name} not sent"
        )
    try:
        answer = await client.get(
            f"{base}/v1/payment_intents/{payment_intent}",
            headers={"Authorization": f"Bearer {key.reveal()}"},
        )
    except httpx.HTTPError as error:
        return _unchecked(payment_intent, trace_id, f"Stripe unreachable ({type(error).__name__})")
    if answer.status_code != 200:
        return _unchecked(payment_intent, trace_id, f"Stripe answered HTTP {answer.status_code}")
    try:
        body: Any = answer.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return _unchecked(payment_intent, trace_id, "Stripe's answer is not a JSON object")
    metadata = {str(k): str(v) for k, v in (body.get("metadata") or {}).items()}
    check = PaymentCheck(
        payment_intent=payment_intent,
        trace_id=trace_id,
        amount=body.get("amount") if isinstance(body.get("amount"), int) else None,
        currency=body.get("currency") if isinstance(body.get("currency"), str) else None,
        status=body.get("status") if isinstance(body.get("status"), str) else None,
        metadata=metadata,
    )
    return PaymentCheck(**{**check.__dict__, "problems": _disagreements(check, expected_cents)})


def _disagreements(check: PaymentCheck, expected_cents: int | None) -> tuple[str, ...]:
    problems = []
    if check.status != "succeeded":
        problems.append(f"status {check.status!r}, expected 'succeeded'")
    if check.currency != CURRENCY:
        problems.append(f"currency {check.currency!r}, expected {CURRENCY!r}")
    if expected_cents is None:
        problems.append("A8 shows no settlement for this trace to compare the amount with")
    elif check.amount != expected_cents:
        problems.append(f"amount {check.amount}, A8 settled {expected_cents}")
    if check.amount is not None and check.amount < 50:
        problems.append(f"amount {check.amount} below Stripe's 50-cent minimum")
    wanted: Mapping[str, str] = {"trace_id": check.trace_id, "test_run": "true", "source": "qa"}
    for name, value in wanted.items():
        if check.metadata.get(name) != value:
            problems.append(f"metadata.{name} {check.metadata.get(name)!r}, expected {value!r}")
    return tuple(problems)


def _unchecked(payment_intent: str, trace_id: str, why: str) -> PaymentCheck:
    return PaymentCheck(payment_intent, trace_id, None, None, None, {}, (why,))
