"""A5's part of the B2C funnel (contract §10): sign-in start, callback, activation.

``GET /auth/start?page_id=&arm=`` (the landing page's CTA) starts authorization code +
PKCE for A5's public client ``student-web``: the verifier stays on A5's server, keyed by
``state`` (10 minutes, single use), with the page, the arm and the journey's trace id, and
the browser goes to A1's sign-up form (``prompt=create``, OpenID Connect Prompt Create).

``GET /auth/callback?code=&state=`` redeems the code server-side (the verifier never
reaches the browser), verifies the access token against A1's JWKS, activates the student
(``activation_first_use`` the first time only, with the welcome credits), asks A3 to
attribute the conversion to the page and arm, opens a checkout session at A2 and sends the
browser to A2's checkout page. Every server-to-server call carries the journey's trace id
and synthetic tags, the student's token and an idempotency key derived from the trace.
A failure at any hop answers problem+json naming the hop (``code-redemption-failed``,
``attribution-failed``, ``checkout-session-failed``), so a failed journey says where.

The ``redirect_uri_exact`` fault (off) makes the callback redeem its code with a variant of
the registered redirect URI (a trailing slash): A1 refuses the code (``invalid_grant``), the
misconfiguration behind "login works, then the callback fails".
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any
from urllib.parse import urlencode

import httpx
from starlette.requests import Request
from starlette.responses import Response

from reftarget.core.app import AppRuntime
from reftarget.core.auth import Authenticator
from reftarget.core.context import RequestContext, request_context
from reftarget.core.problem import problem_response
from reftarget.core.service_client import derived_idempotency_key
from reftarget.domain import CreditLedger, Database
from reftarget.identity import STUDENT_CLIENT_ID, InvalidToken

START_PATH = "/auth/start"
CALLBACK_PATH = "/auth/callback"
SIGN_IN_TTL_S = 600
CALL_TIMEOUT_S = 5.0
CHECKOUT_KIND = "lesson"  # the micro SKU's work kind
_HOPS = {"/v1/attributions": "attribution", "/v1/checkout-sessions": "checkout-session"}
_IDENTIFIER = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS a5_sign_ins ("
    " state TEXT PRIMARY KEY, verifier TEXT NOT NULL, page_id TEXT NOT NULL,"
    " arm TEXT NOT NULL, trace_id TEXT NOT NULL, created_at REAL NOT NULL)",
]


def s256(verifier: str) -> str:
    """RFC 7636 S256 code challenge of ``verifier``."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class HopFailed(Exception):
    """A server-to-server hop of the callback failed; ``slug`` names the hop."""

    def __init__(self, slug: str, detail: str) -> None:
        super().__init__(detail)
        self.slug = slug
        self.detail = detail


class StudentSignIn:
    """The two public pages of A5's sign-in."""

    def __init__(
        self,
        runtime: AppRuntime,
        db: Database,
        ledger: CreditLedger,
        *,
        base_urls: dict[str, str],
        authenticator: Authenticator,
        welcome_credits: int,
    ) -> None:
        self.runtime = runtime
        self.db = db
        self.ledger = ledger
        self.urls = base_urls
        self.callback_url = base_urls["A5"] + CALLBACK_PATH
        self.authenticator = authenticator
        self.welcome_credits = welcome_credits
        db.ensure_schema(_SCHEMA)

    # -- /auth/start ------------------------------------------------------------------

    async def start(self, request: Request) -> Response:
        context = request_context(request)
        page_id = request.query_params.get("page_id", "")
        arm = request.query_params.get("arm", "")
        if not (_IDENTIFIER.fullmatch(page_id) and _IDENTIFIER.fullmatch(arm)):
            return problem_response(
                400, "invalid-parameter", "page_id and arm (1-64 of A-Z a-z 0-9 _ -) are needed."
            )
        state, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        now = self.runtime.clock.time()
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM a5_sign_ins WHERE created_at < ?", (now - SIGN_IN_TTL_S,))
            conn.execute(
                "INSERT INTO a5_sign_ins VALUES (?, ?, ?, ?, ?, ?)",
                (state, verifier, page_id, arm, context.trace_id, now),
            )
        query = {
            "response_type": "code",
            "client_id": STUDENT_CLIENT_ID,
            "redirect_uri": self.callback_url,
            "scope": "openid reftarget",
            "state": state,
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
            "prompt": "create",
        }
        location = f"{self.urls['A1']}/oauth/authorize?{urlencode(query)}"
        return Response(status_code=302, headers=_NO_STORE | {"Location": location})

    # -- /auth/callback ---------------------------------------------------------------

    def _take(self, state: str) -> Any:
        """The sign-in of ``state``, consumed (single use); None when unknown or expired."""
        with self.db.transaction() as conn:
            row = conn.execute(
                "DELETE FROM a5_sign_ins WHERE state = ?"
                " RETURNING verifier, page_id, arm, created_at",
                (state,),
            ).fetchone()
        if row is None or row[3] < self.runtime.clock.time() - SIGN_IN_TTL_S:
            return None
        return row

    async def callback(self, request: Request) -> Response:
        context = request_context(request)
        params = request.query_params
        if "error" in params:
            return problem_response(
                400, "authorization-refused", f"A1 answered error={params['error'][:64]}."
            )
        sign_in = self._take(params.get("state", ""))
        if sign_in is None or not params.get("code"):
            return problem_response(
                400, "unknown-sign-in", "No pending sign-in for this state (expired or used)."
            )
        verifier, page_id, arm, _ = sign_in
        try:
            token = await self._redeem(context, params["code"], verifier)
            claims = await self.authenticator.authenticate(token)
            self._activate(context, claims.tid, claims.sub)
            headers = self._headers(context, token)
            conversion_id = "cv_" + hashlib.sha256(params["state"].encode()).hexdigest()[:32]
            attribution = {"conversion_id": conversion_id, "cta_arm": arm, "page_id": page_id}
            await self._post(context, "A3", "/v1/attributions", attribution, headers)
            order = {"kind": CHECKOUT_KIND, "page_id": page_id, "arm": arm}
            session = await self._post(context, "A2", "/v1/checkout-sessions", order, headers)
        except InvalidToken as exc:
            return problem_response(
                502, "token-not-verifiable", f"A1's token did not verify: {exc.reason}."
            )
        except HopFailed as exc:
            return problem_response(502, exc.slug, exc.detail)
        return Response(status_code=303, headers=_NO_STORE | {"Location": str(session["url"])})

    async def _redeem(self, context: RequestContext, code: str, verifier: str) -> str:
        redirect_uri = self.callback_url
        if not self.runtime.faults.rule_enabled("redirect_uri_exact"):
            redirect_uri += "/"  # the fault: a variant of the registered URI
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": STUDENT_CLIENT_ID,
            "code_verifier": verifier,
        }
        try:
            answer = await self.runtime.http.post(
                self.urls["A1"] + "/oauth/token",
                data=form,
                headers=self._tags(context),
                timeout=CALL_TIMEOUT_S,
            )
        except httpx.HTTPError as exc:
            raise HopFailed("code-redemption-failed", f"A1: no answer ({exc!r})") from exc
        is_json = answer.headers.get("content-type", "").startswith("application/json")
        body = answer.json() if is_json else {}
        if answer.status_code != 200 or "access_token" not in body:
            raise HopFailed(
                "code-redemption-failed",
                f"A1 refused the code ({answer.status_code} {body.get('error')}: "
                f"{body.get('error_description')}).",
            )
        return str(body["access_token"])

    def _activate(self, context: RequestContext, tenant_id: str, user_id: str) -> None:
        activation = self.ledger.activate(tenant_id, user_id)
        if activation.first_use:
            self.ledger.grant(tenant_id, user_id, self.welcome_credits)
        for event in activation.emitted:
            self.runtime.events.business(context, event.event_name, status=303, tenant_id=tenant_id)

    def _tags(self, context: RequestContext) -> dict[str, str]:
        """The journey's trace id and synthetic tags, for every server-to-server hop."""
        headers = {
            "X-Trace-Id": context.trace_id,
            "X-Test-Run": "true" if context.tags.test_run else "false",
        }
        if context.tags.source is not None:
            headers["X-Source"] = context.tags.source
        return headers

    def _headers(self, context: RequestContext, token: str) -> dict[str, str]:
        return self._tags(context) | {"Authorization": f"Bearer {token}"}

    async def _post(
        self,
        context: RequestContext,
        app_id: str,
        path: str,
        body: dict[str, Any],
        headers: dict[str, str],
    ) -> dict[str, Any]:
        hop = _HOPS[path]
        key = derived_idempotency_key(context, hop)
        slug = f"{hop}-failed"
        try:
            answer = await self.runtime.http.post(
                self.urls[app_id] + path,
                json=body,
                headers=headers | {"X-Idempotency-Key": key},
                timeout=CALL_TIMEOUT_S,
            )
        except httpx.HTTPError as exc:
            raise HopFailed(slug, f"{app_id}: no answer ({type(exc).__name__})") from exc
        if answer.status_code not in (200, 201):
            raise HopFailed(
                slug, f"{app_id} {path} answered {answer.status_code}: {answer.text[:300]}"
            )
        result: dict[str, Any] = answer.json()
        return result


class StudentRecords:
    """What A5 keeps per student, for the synthetic-identity deletion (contract §5)."""

    _TABLES = ("a5_accounts", "a5_credit_ledger")

    def __init__(self, db: Database) -> None:
        self.db = db

    def count(self, tenant_id: str, subject: str) -> int:
        with self.db.transaction() as conn:
            return sum(
                int(
                    conn.execute(
                        f"SELECT COUNT(*) FROM {table} WHERE tenant_id = ? AND user_id = ?",
                        (tenant_id, subject),
                    ).fetchone()[0]
                )
                for table in self._TABLES
            )

    def delete(self, tenant_id: str, subject: str) -> int:
        with self.db.transaction() as conn:
            return sum(
                int(
                    conn.execute(
                        f"DELETE FROM {table} WHERE tenant_id = ? AND user_id = ?",
                        (tenant_id, subject),
                    ).rowcount
                )
                for table in self._TABLES
            )
