"""A6's provider portal pages: the browser side of the B2B funnel (contract §10).

``GET /portal`` without a portal session starts the authorization code flow with PKCE for
A6's public client ``provider-portal`` at A1 (``prompt=create``: A1's sign-up/login form);
the verifier stays on the server, keyed by ``state``. ``GET /portal/callback`` redeems the
code at A1's token endpoint and starts the portal session (cookie ``a6_portal``:
``Path=/portal; Secure; HttpOnly; SameSite=Lax``; the session holds the access token, never
the browser). With a session, ``/portal`` shows the forms that register the provider,
create a listing, publish it and bill (``form#register``, ``form#listing``,
``form.publish``, ``form#bill``).

The portal is a backend for its frontend: each form post plays its step through A6's own
API (``POST /v1/providers``, ``/v1/listings``, ``/v1/listings/{id}/publish``,
``/v1/billing``: the operations marked ``x-funnel-step``) with the session's token,
forwarding the browser's ``X-Trace-Id`` (or the one the portal request got),
``X-Test-Run`` and ``X-Source``, and the browser's ``X-Idempotency-Key`` (else the form's
hidden ``idempotency_key``, made when the page was shown). So the events carry the
journey's trace id and synthetic tags, and a resubmitted form is a replay, never a second
charge. The answer is the portal page with ``#result`` (``data-step``, ``data-status`` =
``ok``/``failed``, ``data-http-status`` and the step's ids and amounts).

Form posts are outside the §4 header rules (they are a browser's, like A1's login form) and
are refused (403) when their ``Origin`` is not A6's: a cookie session needs that guard.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from reftarget.apps.a1 import PORTAL_CALLBACK_PATH
from reftarget.core.app import AppRuntime
from reftarget.core.context import request_context
from reftarget.core.openapi import PackageRoutes
from reftarget.core.settings import AppSettings
from reftarget.identity.registry import PORTAL_CLIENT_ID

PORTAL_PATH = "/portal"
COOKIE_NAME = "a6_portal"
SESSION_TTL_S = 3600
LOGIN_TTL_S = 600
LISTINGS_SHOWN = 20
FORWARDED_TAGS = ("X-Test-Run", "X-Source")
SCHEMA = """
CREATE TABLE IF NOT EXISTS a6_portal_logins (
    state TEXT PRIMARY KEY,
    verifier TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS a6_portal_sessions (
    token_sha256 TEXT PRIMARY KEY,
    access_token TEXT NOT NULL,
    expires_at REAL NOT NULL
);
"""
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
}
# What #result shows of each step's answer (data-<name with dashes>).
_RESULT_FIELDS = {
    "b2b.register": ("provider_id", "already_registered"),
    "b2b.listing": ("listing_id",),
    "b2b.publish": ("listing_id", "changed"),
    "b2b.billing": (
        "billing_id",
        "revenue_event_id",
        "stripe_object_id",
        "gross_cents",
        "fee_cents",
        "net_cents",
    ),
}


@dataclass(frozen=True)
class StepOutcome:
    """What A6's API answered to one portal step."""

    step: str
    status: int
    body: Mapping[str, Any]

    @property
    def ok(self) -> bool:
        return self.status < 400


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: base64url(sha256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _attr(value: object) -> str:
    if isinstance(value, bool):
        value = "true" if value else "false"
    return html.escape("" if value is None else str(value), quote=True)


class ProviderPortalPages:
    """The handlers of the portal pages (see the module docstring)."""

    def __init__(self, settings: AppSettings, runtime: AppRuntime) -> None:
        self.runtime = runtime
        runtime.db.executescript(SCHEMA)
        self.api_base = settings.base_url
        self.origin = "{0.scheme}://{0.netloc}".format(urlsplit(settings.base_url))
        self.redirect_uri = f"{settings.base_url}{PORTAL_CALLBACK_PATH}"
        identity = settings.topology.base_urls["A1"]
        self.authorize_url = f"{identity}/oauth/authorize"
        self.token_url = f"{identity}/oauth/token"

    # -- login -----------------------------------------------------------------------------

    def _start_login(self) -> Response:
        state, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        self.runtime.db.execute(
            "INSERT INTO a6_portal_logins (state, verifier, expires_at) VALUES (?, ?, ?)",
            (state, verifier, self.runtime.clock.time() + LOGIN_TTL_S),
        )
        query = urlencode(
            {
                "response_type": "code",
                "client_id": PORTAL_CLIENT_ID,
                "redirect_uri": self.redirect_uri,
                "scope": "reftarget",
                "state": state,
                "code_challenge": pkce_challenge(verifier),
                "code_challenge_method": "S256",
                "prompt": "create",
            }
        )
        return RedirectResponse(f"{self.authorize_url}?{query}", 302, headers=_PAGE_HEADERS)

    def _take_verifier(self, state: str) -> str | None:
        row = self.runtime.db.execute(
            "DELETE FROM a6_portal_logins WHERE state = ? RETURNING verifier, expires_at",
            (state,),
        ).fetchone()
        if row is None or row["expires_at"] < self.runtime.clock.time():
            return None
        return str(row["verifier"])

    async def callback(self, request: Request) -> Response:
        """A1 sends the browser back here with ``code`` and ``state`` (or ``error``)."""
        params = request.query_params
        if "error" in params:
            return _message(400, "Sign-in refused", f"A1 answered {params['error']}.")
        verifier = self._take_verifier(params.get("state", ""))
        if verifier is None or not params.get("code"):
            return _message(400, "Sign-in expired", "Unknown or expired state: sign in again.")
        answer = await self.runtime.http.post(
            self.token_url,
            data={
                "grant_type": "authorization_code",
                "code": params["code"],
                "redirect_uri": self.redirect_uri,
                "client_id": PORTAL_CLIENT_ID,
                "code_verifier": verifier,
            },
        )
        if answer.status_code != 200:
            return _message(
                502, "Sign-in failed", f"A1's token endpoint answered {answer.status_code}."
            )
        grant = answer.json()
        token = secrets.token_urlsafe(32)
        ttl = min(SESSION_TTL_S, int(grant.get("expires_in", SESSION_TTL_S)))
        self.runtime.db.execute(
            "INSERT INTO a6_portal_sessions (token_sha256, access_token, expires_at)"
            " VALUES (?, ?, ?)",
            (_sha256(token), str(grant["access_token"]), self.runtime.clock.time() + ttl),
        )
        response = RedirectResponse(PORTAL_PATH, 303, headers=_PAGE_HEADERS)
        response.headers.append(
            "Set-Cookie",
            f"{COOKIE_NAME}={token}; Max-Age={ttl}; Path={PORTAL_PATH}; Secure; HttpOnly;"
            " SameSite=Lax",
        )
        return response

    def _access_token(self, request: Request) -> str | None:
        cookie = request.cookies.get(COOKIE_NAME)
        if not cookie:
            return None
        row = self.runtime.db.execute(
            "SELECT access_token, expires_at FROM a6_portal_sessions WHERE token_sha256 = ?",
            (_sha256(cookie),),
        ).fetchone()
        if row is None or row["expires_at"] < self.runtime.clock.time():
            return None
        return str(row["access_token"])

    # -- the API, on the session's behalf ------------------------------------------------

    def _api_headers(self, request: Request, access_token: str) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {access_token}",
            "X-Trace-Id": request_context(request).trace_id,
        }
        headers |= {
            name: request.headers[name] for name in FORWARDED_TAGS if name in request.headers
        }
        return headers

    async def _api(
        self, request: Request, access_token: str, method: str, path: str, **kwargs: Any
    ) -> tuple[int, Mapping[str, Any]]:
        try:
            answer = await self.runtime.http.request(
                method,
                f"{self.api_base}{path}",
                headers={**self._api_headers(request, access_token), **kwargs.pop("headers", {})},
                **kwargs,
            )
        except httpx.HTTPError as exc:
            return 502, {"detail": f"A6's API did not answer: {type(exc).__name__}"}
        try:
            body = answer.json()
        except ValueError:
            body = {}
        return answer.status_code, body if isinstance(body, dict) else {"items": body}

    async def _play(
        self, request: Request, step: str, path: str, body: Mapping[str, Any]
    ) -> Response:
        """One form post: its API call, then the portal page with ``#result``."""
        if request.headers.get("origin") not in (None, self.origin):
            return _message(403, "Cross-origin request refused", "Post the form from A6.")
        access_token = self._access_token(request)
        if access_token is None:
            return _message(401, "Not signed in", "Your portal session ended: sign in again.")
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        key = request.headers.get("X-Idempotency-Key") or form.get("idempotency_key", "")
        status, answer = await self._api(
            request,
            access_token,
            "POST",
            path,
            json=dict(body),
            headers={"X-Idempotency-Key": key or secrets.token_hex(16)},
        )
        outcome = StepOutcome(step, status, answer)
        page = await self._page(request, access_token, outcome)
        return HTMLResponse(page, status_code=200 if outcome.ok else status, headers=_PAGE_HEADERS)

    # -- pages -----------------------------------------------------------------------------

    async def portal(self, request: Request) -> Response:
        """The portal page, or the start of the sign-in when there is no session."""
        access_token = self._access_token(request)
        if access_token is None:
            return self._start_login()
        return HTMLResponse(await self._page(request, access_token, None), headers=_PAGE_HEADERS)

    async def _page(self, request: Request, access_token: str, outcome: StepOutcome | None) -> str:
        status, provider = await self._api(request, access_token, "GET", "/v1/providers/me")
        registered = status == 200
        listings: list[Mapping[str, Any]] = []
        if registered:
            _, found = await self._api(request, access_token, "GET", "/v1/listings")
            # The newest first, and only a page of them: a tenant's members share its listings.
            listings = list(found.get("items", []))[::-1][:LISTINGS_SHOWN]
        return render_portal(provider if registered else None, listings, outcome)

    async def register(self, request: Request) -> Response:
        form = await _form(request)
        return await self._play(
            request, "b2b.register", "/v1/providers", {"display_name": form.get("display_name", "")}
        )

    async def create_listing(self, request: Request) -> Response:
        form = await _form(request)
        body: dict[str, Any] = {"title": form.get("title", "")}
        if form.get("price_cents"):
            body["price_cents"] = _int(form["price_cents"])
        return await self._play(request, "b2b.listing", "/v1/listings", body)

    async def publish(self, request: Request) -> Response:
        listing_id = request.path_params["listing_id"]
        return await self._play(request, "b2b.publish", f"/v1/listings/{listing_id}/publish", {})

    async def bill(self, request: Request) -> Response:
        form = await _form(request)
        body: dict[str, Any] = {"gross_cents": _int(form.get("gross_cents", ""))}
        if form.get("work_cost_cents"):
            body["work_cost_cents"] = _int(form["work_cost_cents"])
        return await self._play(request, "b2b.billing", "/v1/billing", body)


async def _form(request: Request) -> dict[str, str]:
    return dict(parse_qsl((await request.body()).decode("utf-8", "replace")))


def _int(text: str) -> int | str:
    """A form number as an int; anything else is passed on for the API to refuse (400)."""
    return int(text) if text.strip().isdigit() else text


def _message(status: int, title: str, detail: str) -> Response:
    body = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
        f'<p id="error" data-status="{status}">{html.escape(detail)}</p>'
        f'<a id="signin" href="{PORTAL_PATH}">Sign in</a></body></html>'
    )
    return HTMLResponse(body, status_code=status, headers=_PAGE_HEADERS)


def _key_field() -> str:
    return f'<input type="hidden" name="idempotency_key" value="{secrets.token_hex(16)}">'


def _result_html(outcome: StepOutcome) -> str:
    attrs = {
        "step": outcome.step,
        "status": "ok" if outcome.ok else "failed",
        "http-status": outcome.status,
    }
    if outcome.ok:
        for name in _RESULT_FIELDS[outcome.step]:
            attrs[name.replace("_", "-")] = outcome.body.get(name)
        metrics = outcome.body.get("finance_metrics")
        if isinstance(metrics, Mapping):
            attrs["billed-cents"] = metrics.get("billed_cents")
    text = "Done." if outcome.ok else str(outcome.body.get("detail", "The step failed."))
    rendered = " ".join(f'data-{name}="{_attr(value)}"' for name, value in attrs.items())
    return f'<div id="result" role="status" {rendered}>{html.escape(text)}</div>'


def render_portal(
    provider: Mapping[str, Any] | None,
    listings: list[Mapping[str, Any]],
    outcome: StepOutcome | None,
) -> str:
    """The portal page: the provider (or the form to register it), listings, billing."""
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<title>Provider portal</title></head><body><h1>Provider portal</h1>",
    ]
    if outcome is not None:
        parts.append(_result_html(outcome))
    # Registering is offered to every member: a tenant's second member joins its provider.
    register = (
        f'<form id="register" method="post" action="{PORTAL_PATH}/register">{_key_field()}'
        '<label>Organisation <input name="display_name" required maxlength="200"></label>'
        '<button id="register-submit" type="submit">Register</button></form>'
    )
    if provider is None:
        parts.append(f'<section id="provider" data-registered="false">{register}</section>')
        parts.append("</body></html>")
        return "".join(parts)
    parts.append(
        f'<section id="provider" data-registered="true" '
        f'data-provider-id="{_attr(provider.get("provider_id"))}">'
        f"<h2>{html.escape(str(provider.get('display_name', '')))}</h2>{register}</section>"
        f'<form id="listing" method="post" action="{PORTAL_PATH}/listings">{_key_field()}'
        '<label>Title <input name="title" required maxlength="200"></label>'
        '<label>Price (cents) <input name="price_cents" inputmode="numeric"></label>'
        '<button id="listing-submit" type="submit">Create listing</button></form>'
        '<ul id="listings">'
    )
    for listing in listings:
        listing_id = _attr(listing.get("listing_id"))
        parts.append(
            f'<li data-listing-id="{listing_id}" data-status="{_attr(listing.get("status"))}">'
            f"{html.escape(str(listing.get('title', '')))}"
        )
        if listing.get("status") == "draft":
            parts.append(
                f'<form class="publish" method="post" '
                f'action="{PORTAL_PATH}/listings/{listing_id}/publish">{_key_field()}'
                '<button type="submit">Publish</button></form>'
            )
        parts.append("</li>")
    parts.append(
        "</ul>"
        f'<form id="bill" method="post" action="{PORTAL_PATH}/billing">{_key_field()}'
        '<label>Gross (cents) <input name="gross_cents" required inputmode="numeric"></label>'
        '<label>A4 work cost (cents) <input name="work_cost_cents" inputmode="numeric"></label>'
        '<button id="bill-submit" type="submit">Bill</button></form></body></html>'
    )
    return "".join(parts)


def portal_routes(settings: AppSettings, runtime: AppRuntime) -> PackageRoutes:
    """The portal's routes: browser pages, outside the bearer and §4 header rules."""
    pages = ProviderPortalPages(settings, runtime)
    routes = [
        Route(PORTAL_PATH, pages.portal, methods=["GET"]),
        Route(PORTAL_CALLBACK_PATH, pages.callback, methods=["GET"]),
        Route(f"{PORTAL_PATH}/register", pages.register, methods=["POST"]),
        Route(f"{PORTAL_PATH}/listings", pages.create_listing, methods=["POST"]),
        Route(f"{PORTAL_PATH}/listings/{{listing_id}}/publish", pages.publish, methods=["POST"]),
        Route(f"{PORTAL_PATH}/billing", pages.bill, methods=["POST"]),
    ]
    return PackageRoutes(routes, tag="portal")
