"""A1 as the OIDC checks read it: its discovery document and JWK Set, fetched as JSON.

Both the checks on A1 itself (:mod:`secondconf.checks.oidc.provider`) and those on every
app that takes A1's tokens (:mod:`secondconf.checks.oidc.tokens`) start from these
documents, as does the browser login (:mod:`secondconf.target.login`). A fetch that fails
says why in words, for a verdict to carry; the base64url here is JOSE's (RFC 7515 §2).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Final

import httpx

from secondconf.target.identity import discovery_url
from secondconf.target.map import SystemMap

TOKEN_SUBJECT: Final = "test_student_e2e_01"  # the synthetic identity tokens are fetched for
MIN_RSA_BITS: Final = 2048  # contract §2a: A1 signs with RSA keys of 2048 bits or more


def b64url(data: bytes) -> str:
    """Unpadded base64url, as JWTs, JWKs and PKCE challenges write bytes."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_uint(value: str) -> int:
    """A JWK member such as ``n`` or ``e``: unpadded base64url of a big-endian integer."""
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def json_or_none(response: httpx.Response) -> Any:
    """The answer's JSON body, or ``None`` when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def error_name(error: Exception) -> str:
    """The error's class name, which a verdict reports instead of its message."""
    return type(error).__name__


def get_json_object(client: httpx.Client, url: str, what: str) -> tuple[dict[str, Any] | None, str]:
    """GET ``url`` for a JSON object, or ``None`` and why not (``what`` names it)."""
    try:
        response = client.get(url)
    except httpx.HTTPError as error:
        return None, f"{what} {url} unreachable ({error_name(error)})"
    body = json_or_none(response)
    if response.status_code != 200 or not isinstance(body, dict):
        return None, f"{what} {url} answered {response.status_code} without a JSON object"
    return body, ""


def get_discovery(client: httpx.Client, system_map: SystemMap) -> tuple[dict[str, Any] | None, str]:
    """A1's discovery document, or ``None`` and why not."""
    return get_json_object(client, discovery_url(system_map), "discovery")


def get_jwks(client: httpx.Client, discovery: Mapping[str, Any]) -> tuple[Any, str | None]:
    """The JWK Set at ``jwks_uri``, or ``None`` and why it is not reachable."""
    uri = discovery.get("jwks_uri")
    if not isinstance(uri, str):
        return None, "discovery names no jwks_uri"
    jwks, problem = get_json_object(client, uri, "jwks_uri")
    return jwks, problem or None
