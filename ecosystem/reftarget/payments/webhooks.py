"""Stripe webhooks: registration on the embedded fake, signature verification everywhere.

``register_webhook`` speaks localstripe's private ``POST /_config/webhooks/{id}`` (form fields
``url``, ``secret``, ``events[]``), because localstripe has no ``/v1/webhook_endpoints``. It is
for the embedded target only; against real Stripe the endpoint and its ``whsec_…`` secret are
configured in the Stripe account (or by ``stripe listen``), never by this code.

``verify_event`` is backend-neutral: it checks the ``Stripe-Signature`` header with the SDK's
``stripe.Webhook.construct_event`` (HMAC-SHA256 over ``"<t>.<body>"``, timestamp tolerance),
which is how A2 must treat every delivery: unsigned or mis-signed bodies are never trusted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
import stripe

__all__ = ["InvalidSignature", "register_webhook", "verify_event"]

DEFAULT_TOLERANCE_S = 300  # Stripe's default: five minutes of clock skew or replay window


class InvalidSignature(ValueError):
    """The payload is not signed with the expected secret (or is too old, or unsigned)."""


def register_webhook(
    api_base: str,
    *,
    url: str,
    secret: str,
    events: Sequence[str] | None,
    api_key: str | None = None,
    webhook_id: str | None = None,
    timeout_s: float = 5.0,
) -> str:
    """Make the embedded Stripe POST ``events`` (None: all) to ``url``, signed with ``secret``.

    Registering the same ``url`` again replaces the earlier registration (the default id is
    derived from the url), so it is safe to call at every start. Returns the registration id.
    ``api_key`` is sent as a bearer token if given (localstripe does not require one here).
    """
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"webhook url must be http(s), got {url!r}")
    if not secret:
        raise ValueError("webhook secret must not be empty")
    if events is not None and (isinstance(events, str) or not events):
        raise ValueError("events must be a non-empty sequence of event types, or None for all")
    registration = webhook_id or "reftarget_" + hashlib.sha256(url.encode()).hexdigest()[:16]
    form: dict[str, str | list[str]] = {"url": url, "secret": secret}
    if events is not None:
        form["events[]"] = list(events)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    # trust_env=False: the fake is on loopback; an environment proxy must not intercept it.
    with httpx.Client(trust_env=False, timeout=timeout_s) as http:
        answer = http.post(
            f"{api_base.rstrip('/')}/_config/webhooks/{registration}",
            data=form,
            headers=headers,
        )
    answer.raise_for_status()
    return registration


def verify_event(
    payload: bytes, signature_header: str, secret: str, *, tolerance_s: int = DEFAULT_TOLERANCE_S
) -> dict[str, Any]:
    """The event as a plain dict, if ``signature_header`` signs ``payload`` with ``secret``.

    Raises ``InvalidSignature`` otherwise. Verify the raw request body, byte for byte: a
    re-serialised JSON body no longer matches its signature.
    """
    try:
        stripe.Webhook.construct_event(payload, signature_header, secret, tolerance=tolerance_s)
    except stripe.SignatureVerificationError as error:
        raise InvalidSignature(str(error)) from error
    event = json.loads(payload)
    if not isinstance(event, dict):
        raise ValueError("a Stripe event must be a JSON object")
    return event
