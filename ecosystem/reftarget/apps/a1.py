"""A1, identity: the OIDC provider (``reftarget.identity``) on the core factory.

A1's OIDC routes are the protocol's (public, outside the §4 header rules); its own API
(deleting a synthetic identity, ``apps.synthetic_deletion``) takes the qa client's token,
which A1 verifies in-process with its own keys. It emits ``identity_ok`` whenever the token
endpoint issues a token (with the new token's tenant, read back from the token A1 just
signed) and whenever the sign-up form (``prompt=create``) starts a session. Synthetic
identities, and the accounts the sign-up form creates in their namespace, log in with the
value of ``OIDC_CLIENT_SECRET`` as their password (the harness already holds that secret;
no further secret is invented).
"""

from __future__ import annotations

import json
import time

import jwt
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from reftarget.apps.synthetic_deletion import IdentityDeletion
from reftarget.core.app import AppDefinition, AppRuntime
from reftarget.core.context import request_context
from reftarget.core.db import app_data_dir
from reftarget.core.events import EventRecorder
from reftarget.core.openapi import Handler, PackageRoutes
from reftarget.core.settings import AppSettings
from reftarget.identity import (
    AUDIENCE,
    Claims,
    IdentityProvider,
    KeyStore,
    default_clients,
    identity_routes,
    synthetic_users,
)
from reftarget.identity.sessions import Session
from reftarget.identity.verifier import decode_access_token

ROLE = "identity"
TOKEN_PATH = "/oauth/token"
AUTHORIZE_PATH = "/oauth/authorize"  # with prompt=create: the B2C sign-up form
QA_STUDENT = "test_student_e2e_01"
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


class LocalAuthenticator:
    """A1 verifies the bearer tokens of its own API with its own keys (no JWKS fetch)."""

    def __init__(self, provider: IdentityProvider) -> None:
        self._provider = provider

    async def authenticate(self, token: str) -> Claims:
        return decode_access_token(
            token,
            self._provider.keys.public_keys(),
            issuer=self._provider.issuer,
            audience=AUDIENCE,
            now=time.time(),  # the real clock, as every app's verifier (core/auth.py)
        )


def build(settings: AppSettings, runtime: AppRuntime) -> AppDefinition:
    urls = settings.topology.base_urls
    keys = KeyStore(app_data_dir(settings.state_dir, "A1") / "identity.sqlite3")
    client_secret = settings.secrets["OIDC_CLIENT_SECRET"]
    users = synthetic_users(client_secret)  # sign-ups share their password (one hash)
    provider = IdentityProvider(
        settings.base_url,
        keys,
        default_clients(
            client_secret,
            [f"{urls['A5']}{STUDENT_CALLBACK_PATH}"],
            [f"{urls['A6']}{PORTAL_CALLBACK_PATH}"],
        ),
        users,
        runtime.clock,
        signup_password_hash=users[QA_STUDENT].password_hash,
        coppa_gate=lambda: runtime.faults.rule_enabled("coppa_age_gate"),
    )

    def signed_up(request: Request, session: Session) -> None:
        context = request_context(request)
        runtime.events.business(context, "identity_ok", status=303, tenant_id=session.tid)

    routes = identity_routes(provider, runtime.admin_token, on_signed_up=signed_up)
    return AppDefinition(
        role=ROLE,
        endpoints=IdentityDeletion(provider, runtime, urls).endpoints(),
        packages=[
            PackageRoutes(
                _with_token_events(routes, runtime.events),
                tag="oidc",
                funnel_steps={AUTHORIZE_PATH: "b2c.signup"},
            )
        ],
        authenticator=LocalAuthenticator(provider),
    )
