"""A1, identity: the OIDC provider (``reftarget.identity``) on the core factory.

A1 verifies no tokens through the core (its routes are the OIDC protocol, outside the §4
header rules). It emits ``identity_ok`` whenever the token endpoint issues a token; the
event carries the new token's ``sub``'s tenant (read back from the token A1 just signed).
Synthetic identities log in on A1's form with the value of ``OIDC_CLIENT_SECRET`` as
their password (the harness already holds that secret; no further secret is invented).
"""

from __future__ import annotations

import json

import jwt
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from reftarget.core.app import AppDefinition, AppRuntime
from reftarget.core.context import request_context
from reftarget.core.db import app_data_dir
from reftarget.core.events import EventRecorder
from reftarget.core.openapi import Handler, PackageRoutes
from reftarget.core.settings import AppSettings
from reftarget.identity import (
    IdentityProvider,
    KeyStore,
    default_clients,
    identity_routes,
    synthetic_users,
)

ROLE = "identity"
TOKEN_PATH = "/oauth/token"
STUDENT_CALLBACK_PATH = "/auth/callback"
PORTAL_CALLBACK_PATH = "/portal/callback"  # A6's provider portal


def _tenant_of(body: bytes) -> str | None:
    try:
        token = json.loads(body)["access_token"]
        claims = jwt.decode(token, options={"verify_signature": False})
    except (ValueError, KeyError, TypeError, jwt.InvalidTokenError):
        return None
    tenant = claims.get("tid")
    return tenant if isinstance(tenant, str) else None


def _announcing_tokens(handler: Handler, events: EventRecorder) -> Handler:
    """The token endpoint, plus ``identity_ok`` for every token it issues."""

    async def token(request: Request) -> Response:
        response = await handler(request)
        if response.status_code == 200:
            context = request_context(request)
            events.business(context, "identity_ok", tenant_id=_tenant_of(bytes(response.body)))
        return response

    return token


def _with_token_events(routes: list[BaseRoute], events: EventRecorder) -> list[BaseRoute]:
    wrapped: list[BaseRoute] = []
    for route in routes:
        if isinstance(route, Route) and route.path == TOKEN_PATH:
            route = Route(
                route.path,
                _announcing_tokens(route.endpoint, events),
                methods=sorted((route.methods or set()) - {"HEAD"}),
            )
        wrapped.append(route)
    return wrapped


def build(settings: AppSettings, runtime: AppRuntime) -> AppDefinition:
    urls = settings.topology.base_urls
    keys = KeyStore(app_data_dir(settings.state_dir, "A1") / "identity.sqlite3")
    client_secret = settings.secrets["OIDC_CLIENT_SECRET"]
    provider = IdentityProvider(
        settings.base_url,
        keys,
        default_clients(
            client_secret,
            [f"{urls['A5']}{STUDENT_CALLBACK_PATH}"],
            [f"{urls['A6']}{PORTAL_CALLBACK_PATH}"],
        ),
        synthetic_users(client_secret),
        runtime.clock,
    )
    routes = identity_routes(provider, runtime.admin_token)
    return AppDefinition(
        role=ROLE,
        packages=[PackageRoutes(_with_token_events(routes, runtime.events), tag="oidc")],
        verifies_tokens=False,
    )
