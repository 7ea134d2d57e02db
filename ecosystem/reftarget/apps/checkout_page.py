"""A2's checkout page: the B2C funnel's last browser step (contract §10).

A5's callback opens a checkout session server-side (``POST /v1/checkout-sessions``, the
student's token): A2 keeps who pays (tenant, subject), the work kind, the page and arm the
journey came from, and the trace id, under an unguessable ``cs_…`` id that expires in 30
minutes. The browser then sees ``GET /checkout?session=cs_…`` (no token: holding the id is
the proof, as with Stripe Checkout), a ``form#checkout`` whose button ``#pay`` posts to
``POST /checkout/pay`` (a form post; the same fields as JSON are taken too). That route is a
mutation under the §4 rules (the journey's browser sends X-Idempotency-Key and X-Trace-Id
on every request), charges the micro SKU
through the same code as ``POST /v1/checkout`` and answers a result page with
``#result[data-status][data-payment-intent]``: ``succeeded`` and the PaymentIntent, or
``failed`` (402) with the problem's detail on a decline. A session is paid once: paying it
again shows the first result.

The decline is reachable two ways: the form's ``payment_method`` may name the declining
test card, and the ``approved_test_card`` fault (A2, off) charges it whatever was asked.
"""

from __future__ import annotations

import html
import json
import secrets
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from reftarget.core.app import AppRuntime
from reftarget.core.body import InvalidBody, json_object, optional_text_field, text_field
from reftarget.core.context import RequestContext, request_context
from reftarget.core.openapi import Endpoint
from reftarget.core.problem import problem_response

PAGE_PATH = "/checkout"
PAY_PATH = "/checkout/pay"
SESSION_TTL_S = 1800
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}

Charge = Callable[
    [RequestContext, str, str, str, str], Awaitable[Response | tuple[Any, dict[str, Any]]]
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS a2_checkout_sessions (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    kind TEXT NOT NULL,
    page_id TEXT,
    arm TEXT,
    trace_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    result TEXT  -- JSON {status, payment_intent, detail} once paid or declined
);
"""

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Checkout</title></head>
<body><h1>Checkout: one {kind}</h1><p>Charged as the micro SKU, in USD.</p>
<form id="checkout" method="post" action="{action}">
<input type="hidden" name="session" value="{session}">
<label>Card <select name="payment_method">
<option value="pm_card_visa" selected>Test card (approved)</option>
<option value="pm_card_chargeCustomerFail">Test card (declined)</option>
</select></label>
<button id="pay" type="submit">Pay</button>
</form></body></html>
"""

_RESULT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Payment {status}</title></head>
<body><h1>Payment {status}</h1>
<p id="result" data-status="{status}" data-payment-intent="{intent}">{detail}</p>
</body></html>
"""


def result_page(status: str, payment_intent: str | None, detail: str) -> str:
    return _RESULT.format(
        status=html.escape(status),
        intent=html.escape(payment_intent or ""),
        detail=html.escape(detail),
    )


class CheckoutPages:
    """Checkout sessions, the checkout page and its pay route."""

    def __init__(
        self, runtime: AppRuntime, charge: Charge, base_url: str, kinds: Iterable[str]
    ) -> None:
        self.runtime = runtime
        self.charge = charge
        self.kinds = frozenset(kinds)
        self.page_url = base_url + PAGE_PATH
        runtime.db.executescript(SCHEMA)

    def endpoints(self) -> list[Endpoint]:
        return [
            Endpoint(
                "POST",
                "/v1/checkout-sessions",
                self.create_session,
                "Open a checkout session for the caller (A5's callback, student token)",
                success_status=201,
                request_example={"kind": "lesson", "page_id": "pg_0123", "arm": "book_a_demo"},
                request_schema={
                    "type": "object",
                    "properties": {
                        "kind": {"type": "string", "enum": sorted(self.kinds)},
                        "page_id": {"type": "string"},
                        "arm": {"type": "string"},
                    },
                },
            ),
            Endpoint(
                "GET",
                PAGE_PATH,
                self.page,
                "The checkout page of a session (form#checkout, button #pay)",
                public=True,
                response_media_type="text/html",
            ),
            Endpoint(
                "POST",
                PAY_PATH,
                self.pay,
                "Pay a checkout session (the micro SKU through Stripe); a result page",
                public=True,
                request_example={"session": "cs_0123", "payment_method": "pm_card_visa"},
                request_schema={
                    "type": "object",
                    "required": ["session"],
                    "properties": {
                        "session": {"type": "string"},
                        "payment_method": {"type": "string"},
                    },
                },
                response_media_type="text/html",
                emits=("checkout_completed", "revenue_settled"),
                funnel_step="b2c.checkout",
            ),
        ]

    def _session(self, session_id: str) -> Any:
        row = self.runtime.db.execute(
            "SELECT * FROM a2_checkout_sessions WHERE id = ?", (session_id,)
        ).fetchone()
        if row is None or row["created_at"] < self.runtime.clock.time() - SESSION_TTL_S:
            return None
        return row

    async def create_session(self, request: Request) -> Response:
        context = request_context(request)
        body = await json_object(request)
        kind = text_field(body, "kind", default="lesson")
        if kind not in self.kinds:
            raise InvalidBody(f"kind must be one of {sorted(self.kinds)}")
        page_id = optional_text_field(body, "page_id", max_length=64)
        arm = optional_text_field(body, "arm", max_length=64)
        tenant_id, subject = context.principal()
        session_id = f"cs_{secrets.token_urlsafe(24)}"
        self.runtime.db.execute(
            "INSERT INTO a2_checkout_sessions (id, tenant_id, subject, kind, page_id, arm,"
            " trace_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                session_id,
                tenant_id,
                subject,
                kind,
                page_id,
                arm,
                context.trace_id,
                self.runtime.clock.time(),
            ),
        )
        url = f"{self.page_url}?session={session_id}"
        return JSONResponse({"id": session_id, "url": url}, status_code=201)

    async def page(self, request: Request) -> Response:
        session = self._session(request.query_params.get("session", ""))
        if session is None:
            return problem_response(404, "not-found", "No open checkout session by that id.")
        body = _PAGE.format(
            kind=html.escape(session["kind"]),
            action=PAY_PATH,
            session=html.escape(session["id"]),
        )
        return HTMLResponse(body, headers=_NO_STORE)

    async def pay(self, request: Request) -> Response:
        context = request_context(request)
        form = await _fields(request)
        session = self._session(form.get("session", ""))
        if session is None:
            return problem_response(404, "not-found", "No open checkout session by that id.")
        if session["result"] is not None:
            return self._result(json.loads(session["result"]))
        outcome = await self.charge(
            context,
            session["tenant_id"],
            session["subject"],
            session["kind"],
            form.get("payment_method", "pm_card_visa"),
        )
        if isinstance(outcome, Response):
            problem = json.loads(bytes(outcome.body))
            result = {"status": "failed", "payment_intent": None, "detail": problem["detail"]}
            result["http_status"] = outcome.status_code
        else:
            row, _ = outcome
            result = {
                "status": "succeeded",
                "payment_intent": row["payment_intent_id"],
                "detail": f"Paid {row['amount_cents']} cents ({row['currency']}).",
                "http_status": 200,
            }
        self.runtime.db.execute(
            "UPDATE a2_checkout_sessions SET result = ? WHERE id = ?",
            (json.dumps(result), session["id"]),
        )
        return self._result(result)

    def _result(self, result: dict[str, Any]) -> Response:
        page = result_page(result["status"], result["payment_intent"], result["detail"])
        return HTMLResponse(page, status_code=int(result["http_status"]), headers=_NO_STORE)


async def _fields(request: Request) -> dict[str, str]:
    """The pay form's fields: a browser's form post, or the same fields as JSON (API use)."""
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = json.loads(raw)
        except ValueError:
            return {}
        return (
            {k: v for k, v in body.items() if isinstance(v, str)} if isinstance(body, dict) else {}
        )
    return dict(parse_qsl(raw.decode("utf-8", "replace")))


class CheckoutRecords:
    """What A2 keeps per student (sessions, checkouts), for the synthetic-identity deletion."""

    _TABLES = ("a2_checkout_sessions", "a2_checkouts")

    def __init__(self, runtime: AppRuntime) -> None:
        self.runtime = runtime

    def count(self, tenant_id: str, subject: str) -> int:
        return sum(
            int(
                self.runtime.db.execute(
                    f"SELECT COUNT(*) FROM {table} WHERE tenant_id = ? AND subject = ?",
                    (tenant_id, subject),
                ).fetchone()[0]
            )
            for table in self._TABLES
        )

    def delete(self, tenant_id: str, subject: str) -> int:
        return sum(
            int(
                self.runtime.db.execute(
                    f"DELETE FROM {table} WHERE tenant_id = ? AND subject = ?",
                    (tenant_id, subject),
                ).rowcount
            )
            for table in self._TABLES
        )
