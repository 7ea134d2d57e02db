"""A1's HTTP surface: OIDC endpoints, the login session and key administration.

Protocol errors follow their protocols: the token endpoint answers RFC 6749 JSON with
``Cache-Control: no-store``; the authorize endpoint shows an HTML error page (status 400,
no ``Location``) when it cannot trust the redirect URI; userinfo answers 401 with an RFC
6750 ``WWW-Authenticate`` challenge. Everything else (session, admin) answers
``application/problem+json``. Repeated parameters are refused (RFC 6749 §3.1), and
cross-origin form posts (an ``Origin`` header other than the issuer's) are refused,
because the session cookie must be ``SameSite=None`` and so gives no CSRF protection.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from reftarget.identity import pages
from reftarget.identity.accounts import synthetic_tenant
from reftarget.identity.cookies import COOKIE_NAME, cleared_session_cookie, session_cookie
from reftarget.identity.provider import (
    AuthorizationRejected,
    AuthorizationRequest,
    IdentityProvider,
    OAuthError,
    RedirectUriError,
    SignUpRefused,
)
from reftarget.identity.sessions import Session
from reftarget.identity.verifier import InvalidToken

SignedUp = Callable[[Request, Session], None]

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# The login page must not be framed (clickjacking) nor cached.
_PAGE_HEADERS = _NO_STORE | {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
}


class DuplicateParameter(Exception):
    """A request parameter appeared more than once."""


def identity_routes(
    provider: IdentityProvider, admin_token: str, *, on_signed_up: SignedUp | None = None
) -> list[BaseRoute]:
    """Every A1 route; ``admin_token`` guards ``/_admin/*``; ``on_signed_up`` is told of
    each sign-up form that started a session (A1 emits ``identity_ok`` there)."""
    if not admin_token:
        raise ValueError("admin_token must not be empty")
    endpoints = _Endpoints(provider, admin_token, on_signed_up)
    return [
        Route("/.well-known/openid-configuration", endpoints.discovery, methods=["GET"]),
        Route("/jwks.json", endpoints.jwks, methods=["GET"]),
        Route("/oauth/authorize", endpoints.authorize, methods=["GET", "POST"]),
        Route("/oauth/token", endpoints.token, methods=["POST"]),
        Route("/oauth/session", endpoints.session, methods=["GET"]),
        Route("/oauth/logout", endpoints.logout, methods=["POST"]),
        Route("/userinfo", endpoints.userinfo, methods=["GET", "POST"]),
        Route("/_admin/keys/rotate", endpoints.rotate_key, methods=["POST"]),
        Route("/_admin/keys/retire", endpoints.retire_key, methods=["POST"]),
        Route("/_admin/parental-consents", endpoints.record_consent, methods=["POST"]),
    ]


class _Endpoints:
    def __init__(
        self, provider: IdentityProvider, admin_token: str, on_signed_up: SignedUp | None
    ) -> None:
        self._provider = provider
        self._admin_token = admin_token
        self._on_signed_up = on_signed_up
        issuer = urlsplit(provider.issuer)
        self._origin = f"{issuer.scheme}://{issuer.netloc}"

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(self._provider.discovery())

    async def jwks(self, request: Request) -> Response:
        # Revalidate every time: a cached set would hide a rotation from relying apps.
        return JSONResponse(self._provider.keys.jwks(), headers={"Cache-Control": "no-cache"})

    async def authorize(self, request: Request) -> Response:
        if request.method == "POST" and not self._same_origin(request):
            return _page(403, "Cross-origin request refused", "The form must be posted from A1.")
        try:
            if request.method == "GET":
                params = _single(request.query_params.multi_items())
            else:
                params = _single(parse_qsl(await _text(request), keep_blank_values=True))
        except (DuplicateParameter, UnicodeDecodeError):
            return _page(400, "Invalid request", "A parameter is repeated or not UTF-8.")
        username, password = params.pop("username", ""), params.pop("password", "")
        age = params.pop("age", "")
        params.pop("parental_consent", None)  # an attestation; only a record counts (§14)
        create = params.pop("prompt", "") == "create"
        try:
            auth_request = self._provider.authorization_request(params)
        except RedirectUriError as exc:
            return _page(400, "Invalid authorization request", str(exc))
        except AuthorizationRejected as exc:
            return _redirect(exc.location)
        old_token = request.cookies.get(COOKIE_NAME, "")
        if create and request.method == "POST":
            return await self._sign_up(request, auth_request, (username, password, age), old_token)
        if create:
            return HTMLResponse(self._signup_page(auth_request), headers=_PAGE_HEADERS)
        if request.method == "POST":
            return await self._log_in(auth_request, username, password, old_token)
        session = self._provider.session(old_token)
        if session is not None:
            return _redirect(self._provider.complete_authorization(auth_request, session))
        return HTMLResponse(self._login_page(auth_request), headers=_PAGE_HEADERS)

    def _login_page(self, auth_request: AuthorizationRequest, error: str | None = None) -> str:
        action = f"{self._provider.issuer}/oauth/authorize"
        return pages.login_page(action, auth_request.form_fields(), error)

    def _signup_page(self, auth_request: AuthorizationRequest, error: str | None = None) -> str:
        action = f"{self._provider.issuer}/oauth/authorize"
        fields = auth_request.form_fields() | {"prompt": "create"}
        return pages.signup_page(action, fields, error)

    async def _sign_up(
        self,
        request: Request,
        auth_request: AuthorizationRequest,
        form: tuple[str, str, str],
        old_token: str,
    ) -> Response:
        """OpenID Connect Prompt Create: a new synthetic account, or a login to one."""
        try:  # scrypt takes tens of milliseconds: keep it off the event loop
            result = await run_in_threadpool(self._provider.sign_up, *form)
        except SignUpRefused as exc:
            if exc.status == 400:
                body = self._signup_page(auth_request, exc.detail)
                return HTMLResponse(body, status_code=400, headers=_PAGE_HEADERS)
            return _problem(exc.status, "Forbidden", exc.detail, slug=exc.slug)
        if result is None:
            body = self._signup_page(auth_request, "Wrong username or password.")
            return HTMLResponse(body, status_code=401, headers=_PAGE_HEADERS)
        self._provider.logout(old_token)  # a new login replaces, never adds to, a session
        token, session, _created = result
        if self._on_signed_up is not None:
            self._on_signed_up(request, session)
        return self._signed_in(auth_request, token, session)

    def _signed_in(
        self, auth_request: AuthorizationRequest, token: str, session: Session
    ) -> Response:
        """The redirect back to the client with a code, and the session cookie."""
        response = _redirect(self._provider.complete_authorization(auth_request, session), 303)
        cookie = session_cookie(
            token, session, self._provider.session_ttl_s, self._provider.cookie_domain
        )
        response.headers.append("Set-Cookie", cookie)
        return response

    async def _log_in(
        self, auth_request: AuthorizationRequest, username: str, password: str, old_token: str
    ) -> Response:
        # scrypt takes tens of milliseconds: keep it off the event loop.
        result = await run_in_threadpool(self._provider.login, username, password)
        if result is None:
            body = self._login_page(auth_request, "Wrong username or password.")
            return HTMLResponse(body, status_code=401, headers=_PAGE_HEADERS)
        self._provider.logout(old_token)  # a new login replaces, never adds to, a session
        token, session = result
        return self._signed_in(auth_request, token, session)

    async def token(self, request: Request) -> Response:
        try:
            media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if media_type != "application/x-www-form-urlencoded":
                raise OAuthError("invalid_request", "use application/x-www-form-urlencoded")
            try:
                params = _single(parse_qsl(await _text(request), keep_blank_values=True))
            except (DuplicateParameter, UnicodeDecodeError) as exc:
                raise OAuthError("invalid_request", "a parameter is repeated or not UTF-8") from exc
            client_id, secret = _client_credentials(request.headers.get("authorization"), params)
            client = self._provider.authenticate_client(client_id, secret)
            return JSONResponse(self._provider.grant(client, params), headers=_NO_STORE)
        except OAuthError as exc:
            body = {"error": exc.error, "error_description": exc.description}
            headers = dict(_NO_STORE)
            if exc.status == 401:
                headers["WWW-Authenticate"] = 'Basic realm="reftarget"'
            return JSONResponse(body, status_code=exc.status, headers=headers)

    async def userinfo(self, request: Request) -> Response:
        token = _bearer(request.headers.get("authorization"))
        if token is None:
            return _problem(
                401,
                "Unauthorized",
                "A bearer token is required.",
                {"WWW-Authenticate": 'Bearer realm="reftarget"'},
            )
        try:
            claims = self._provider.userinfo(token)
        except InvalidToken as exc:
            challenge = (
                f'Bearer realm="reftarget", error="invalid_token", error_description="{exc.reason}"'
            )
            return _problem(
                401,
                "Unauthorized",
                f"Invalid token: {exc.reason}.",
                {"WWW-Authenticate": challenge},
            )
        return JSONResponse(claims, headers=_NO_STORE)

    async def session(self, request: Request) -> Response:
        session = self._provider.session(request.cookies.get(COOKIE_NAME, ""))
        if session is None:
            return _problem(401, "Unauthorized", "No live a1_session.")
        body = {"sub": session.username, "tid": session.tid, "expires_at": int(session.expires_at)}
        return JSONResponse(body, headers=_NO_STORE)

    async def logout(self, request: Request) -> Response:
        if not self._same_origin(request):
            return _problem(403, "Forbidden", "Cross-origin logout refused.")
        self._provider.logout(request.cookies.get(COOKIE_NAME, ""))
        response = Response(status_code=204, headers=_NO_STORE)
        response.headers.append("Set-Cookie", cleared_session_cookie(self._provider.cookie_domain))
        return response

    async def rotate_key(self, request: Request) -> Response:
        if not self._is_admin(request):
            return _admin_refused()
        # RSA key generation takes tens of milliseconds: keep it off the event loop.
        kid = await run_in_threadpool(self._provider.keys.rotate)
        return JSONResponse({"kid": kid})

    async def retire_key(self, request: Request) -> Response:
        if not self._is_admin(request):
            return _admin_refused()
        kid = await _body_string(request, "kid")
        if kid is None:
            return _problem(400, "Bad Request", 'The body must be {"kid": "<kid>"}.')
        try:
            self._provider.keys.retire(kid)
        except KeyError:
            return _problem(404, "Not Found", f"No published key {kid}.")
        except ValueError as exc:
            return _problem(409, "Conflict", str(exc))
        return JSONResponse({"retired": kid})

    async def record_consent(self, request: Request) -> Response:
        """Reference only: verifiable parental consent is on record for a synthetic subject."""
        if not self._is_admin(request):
            return _admin_refused()
        subject = await _body_string(request, "subject")
        if subject is None:
            return _problem(400, "Bad Request", 'The body must be {"subject": "<username>"}.')
        if synthetic_tenant(subject) is None:
            return _problem(
                403,
                "Forbidden",
                "Consent is recorded for test_student_e2e_NN / test_provider_e2e_NN only.",
                slug="synthetic-namespace",
            )
        self._provider.accounts.record_consent(subject)
        return JSONResponse({"subject": subject, "recorded": True}, status_code=201)

    def _is_admin(self, request: Request) -> bool:
        token = _bearer(request.headers.get("authorization"))
        return token is not None and hmac.compare_digest(token.encode(), self._admin_token.encode())

    def _same_origin(self, request: Request) -> bool:
        origin = request.headers.get("origin")
        return origin is None or origin == self._origin


def _single(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise DuplicateParameter(name)
        params[name] = value
    return params


async def _text(request: Request) -> str:
    return (await request.body()).decode("utf-8")


async def _body_string(request: Request, name: str) -> str | None:
    """The string ``name`` of a JSON object body (an admin call's), else ``None``."""
    try:
        body: Any = json.loads(await request.body())
    except ValueError:
        body = None
    value = body.get(name) if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def _client_credentials(
    authorization: str | None, params: dict[str, str]
) -> tuple[str | None, str | None]:
    """(client_id, secret) from client_secret_basic or client_secret_post, never both."""
    form_id, form_secret = params.get("client_id"), params.get("client_secret")
    if authorization is None or not authorization.lower().startswith("basic "):
        return form_id, form_secret
    if form_secret is not None:
        raise OAuthError("invalid_request", "use one client authentication method")
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        raw_id, raw_secret = decoded.split(":", 1)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise OAuthError("invalid_client", "malformed Basic credentials", 401) from exc
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
    if form_id is not None and form_id != client_id:
        raise OAuthError("invalid_request", "client_id differs from the Basic credentials")
    return client_id, secret


def _bearer(authorization: str | None) -> str | None:
    if authorization is None or not authorization.lower().startswith("bearer "):
        return None
    return authorization[7:].strip() or None


def _redirect(location: str, status: int = 302) -> Response:
    return Response(status_code=status, headers=_NO_STORE | {"Location": location})


def _page(status: int, title: str, detail: str) -> Response:
    return HTMLResponse(pages.error_page(title, detail), status_code=status, headers=_PAGE_HEADERS)


def _problem(
    status: int,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    *,
    slug: str | None = None,
) -> Response:
    kind = "about:blank" if slug is None else f"urn:reftarget:problem:{slug}"
    body = {"type": kind, "title": title, "status": status, "detail": detail}
    return JSONResponse(
        body,
        status_code=status,
        headers=_NO_STORE | (headers or {}),
        media_type="application/problem+json",
    )


def _admin_refused() -> Response:
    return _problem(
        401,
        "Unauthorized",
        "The admin token is required.",
        {"WWW-Authenticate": 'Bearer realm="reftarget-admin"'},
    )
