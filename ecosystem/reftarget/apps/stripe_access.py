"""How A2 and A6 reach Stripe: one SDK client per app, and a readiness check.

The SDK is synchronous (``requests``), so calls run in the thread pool; SDK retries are off
because localstripe ignores ``Idempotency-Key`` and a silent SDK retry could charge twice
(A2's and A6's own idempotency layer is what makes a client retry safe).
"""

from __future__ import annotations

import httpx
import stripe

from reftarget.core.readiness import ReadyCheck, http_check
from reftarget.core.settings import AppSettings


def stripe_client(settings: AppSettings) -> stripe.StripeClient:
    """An SDK client for the ecosystem's Stripe API base, with the secret key."""
    return stripe.StripeClient(
        settings.secrets["STRIPE_SECRET_KEY"],
        base_addresses={"api": settings.topology.stripe_api_base},
        max_network_retries=0,
    )


def stripe_ready_check(settings: AppSettings, http: httpx.AsyncClient) -> ReadyCheck:
    """The Stripe API answers an authenticated ``GET /v1/prices?limit=1`` with 200."""
    url = settings.topology.stripe_api_base.rstrip("/") + "/v1/prices?limit=1"
    headers = {"Authorization": f"Bearer {settings.secrets['STRIPE_SECRET_KEY']}"}
    return http_check(url, http, headers)
