"""Bearer tokens from A1 (contract §2a): the ``client_credentials`` grant as the QA client.

The token endpoint is the one A1's discovery document names (never a guessed path), and
only once the document is shown to be A1's own: its ``issuer`` is the one the map names,
and the endpoint is on the issuer's origin over TLS (:mod:`secondconf.target.credentials`);
otherwise the secret is not sent at all. The client authenticates with HTTP Basic
(``client_secret_basic``) as the map's ``qa_client_id`` with the value of
``OIDC_CLIENT_SECRET``; the form field ``subject`` names the synthetic identity the token
speaks for, and the token's ``sub``/``tid`` claims (read, not verified: A1 and the apps
verify them) say who it is and which tenant.

Both an async and a blocking form exist because the suites use both kinds of client; the
request they send and the checks they make on the answer are shared.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx

from secondconf.core.secret import Secret
from secondconf.target.credentials import destination_problem
from secondconf.target.map import SystemMap

DISCOVERY_PATH: Final = "/.well-known/openid-configuration"
_NOT_SENT: Final = "the client secret was not sent"


class TokenError(Exception):
    """A1 gave no usable token: one line says why (never the secret)."""


@dataclass(frozen=True)
class AccessToken:
    """A bearer token and the claims it carries. ``value`` is a credential: never print it."""

    value: str
    subject: str
    tenant: str | None
    claims: Mapping[str, Any]

    @property
    def authorization(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.value}"}

    def __repr__(self) -> str:  # a token in a traceback or log is a leaked credential
        return f"AccessToken(subject={self.subject!r}, tenant={self.tenant!r})"


def discovery_url(system_map: SystemMap) -> str:
    return system_map.identity_base_url + DISCOVERY_PATH


def token_endpoint(discovery: Any, system_map: SystemMap) -> str:
    """The ``token_endpoint`` of A1's discovery document, where the client secret may go.

    TokenError, before anything is sent, unless the document's ``issuer`` is the map's
    identity base URL (the URL it was fetched from, OIDC Discovery §4.3) and the endpoint
    is on the issuer's origin over https (http only to loopback in ``embedded``).
    """
    if not isinstance(discovery, dict):
        raise TokenError("A1 discovery document is not a JSON object")
    issuer = discovery.get("issuer")
    if issuer != system_map.identity_base_url:
        raise TokenError(
            "A1 discovery: issuer must be identical to the map's identity base URL "
            f"(OIDC Discovery 4.3); {_NOT_SENT}"
        )
    endpoint = discovery.get("token_endpoint")
    if not isinstance(endpoint, str):
        raise TokenError(f"A1 discovery document names no token_endpoint; {_NOT_SENT}")
    problem = destination_problem(endpoint, issuer, system_map.env, "the issuer")
    if problem is not None:
        raise TokenError(f"A1 discovery: token_endpoint {problem}; {_NOT_SENT}")
    return endpoint


def _grant_form(subject: str | None) -> dict[str, str]:
    form = {"grant_type": "client_credentials"}
    if subject is not None:
        form["subject"] = subject
    return form


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, read without verifying it; TokenError if it is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("A1's access_token is not a JWT (three dot-separated parts)")
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        raise TokenError("A1's access_token payload is not base64url JSON") from None
    if not isinstance(claims, dict):
        raise TokenError("A1's access_token payload is not a JSON object")
    return claims


def _access_token(response: httpx.Response, subject: str | None) -> AccessToken:
    if response.status_code != 200:
        raise TokenError(f"A1 token endpoint answered {response.status_code} to client_credentials")
    try:
        body = response.json()
    except ValueError:
        raise TokenError("A1 token endpoint answered something that is not JSON") from None
    value = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(value, str) or not value:
        raise TokenError("A1 token endpoint answered without an access_token")
    claims = unverified_claims(value)
    sub = claims.get("sub")
    if subject is not None and sub != subject:
        raise TokenError(f"A1 issued a token for sub={sub!r}, not the requested {subject!r}")
    tid = claims.get("tid")
    return AccessToken(
        value=value,
        subject=str(sub),
        tenant=tid if isinstance(tid, str) else None,
        claims=claims,
    )


async def fetch_token(
    client: httpx.AsyncClient, system_map: SystemMap, client_secret: Secret, subject: str | None
) -> AccessToken:
    """A token for ``subject`` (a synthetic identity) or for the QA client itself."""
    try:
        discovery = (await client.get(discovery_url(system_map))).json()
        response = await client.post(
            token_endpoint(discovery, system_map),
            data=_grant_form(subject),
            auth=(system_map.qa_client_id, client_secret.reveal()),
        )
    except httpx.HTTPError as error:
        raise TokenError(f"A1 unreachable for a token ({type(error).__name__})") from None
    except ValueError:
        raise TokenError("A1 discovery document is not JSON") from None
    return _access_token(response, subject)


def fetch_token_sync(
    client: httpx.Client, system_map: SystemMap, client_secret: Secret, subject: str | None
) -> AccessToken:
    """The blocking twin of :func:`fetch_token`."""
    try:
        discovery = client.get(discovery_url(system_map)).json()
        response = client.post(
            token_endpoint(discovery, system_map),
            data=_grant_form(subject),
            auth=(system_map.qa_client_id, client_secret.reveal()),
        )
    except httpx.HTTPError as error:
        raise TokenError(f"A1 unreachable for a token ({type(error).__name__})") from None
    except ValueError:
        raise TokenError("A1 discovery document is not JSON") from None
    return _access_token(response, subject)
