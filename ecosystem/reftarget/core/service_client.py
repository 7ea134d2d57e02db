"""Service-to-service calls that keep the contract: headers carried, keys derived.

A downstream call made on behalf of a request carries the caller's bearer token (same
tenant), its trace id and synthetic tags, and an idempotency key *derived* from the
request's key. Derivation makes a retry of the whole request (same key) reuse the same
downstream key, so the downstream side effect happens once however often either side
retries (IDEM-19).
"""

from __future__ import annotations

import hashlib

from starlette.requests import Request

from reftarget.core.context import RequestContext
from reftarget.core.headers import IDEMPOTENCY_KEY_HEADER, TRACE_ID_HEADER


def derived_idempotency_key(context: RequestContext, purpose: str) -> str:
    """A stable key for one downstream effect of this request (fresh when it had no key)."""
    source = context.idempotency_key or f"trace:{context.trace_id}"
    material = "|".join((context.app_id, context.tenant_id or "", context.route_label, source))
    digest = hashlib.sha256(f"{material}|{purpose}".encode()).hexdigest()[:40]
    return f"{context.app_id.lower()}-{purpose}-{digest}"


def downstream_headers(request: Request, context: RequestContext, purpose: str) -> dict[str, str]:
    """Headers for a mutation sent to another app on behalf of ``request``."""
    headers = {
        TRACE_ID_HEADER: context.trace_id,
        IDEMPOTENCY_KEY_HEADER: derived_idempotency_key(context, purpose),
        "X-Test-Run": "true" if context.tags.test_run else "false",
    }
    authorization = request.headers.get("authorization")
    if authorization:
        headers["Authorization"] = authorization
    if context.tags.source is not None:
        headers["X-Source"] = context.tags.source
    return headers
