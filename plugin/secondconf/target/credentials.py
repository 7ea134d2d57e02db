"""Where a credential may be sent: only to the origin it belongs to, and only over TLS.

The harness holds three credentials for the target (contract §2, §9): the OIDC client
secret (A1's token endpoint), the A8 telemetry key (A8's API) and the reference target's
admin token (the ``/_admin/...`` endpoints of the app being controlled). Each may go to
one origin only (scheme, host and port), and always over https; plain http is allowed only
to a loopback host when the map's environment is ``embedded`` (the reference target on
127.0.0.1). A URL that carries user information is refused too: it is a credential of
its own, and a classic way of disguising a host.

OIDC Discovery 1.0 §4.3 and RFC 8414 §3.3 are why the token endpoint is not simply
trusted: a discovery document whose ``issuer`` is not the one the map names, or whose
``token_endpoint`` sits on another origin, is a mix-up or a phishing attempt, and the
secret must not be sent (RFC 9700). Callers check *before* sending, and report the
problem in their own error type; problems name the rule, never a URL or a value.
"""

from __future__ import annotations

import ipaddress
from typing import Final
from urllib.parse import urlsplit

from secondconf.contract.platform import TargetEnv

LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.localdomain"})
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}

Origin = tuple[str, str, int]


def origin_of(url: str) -> Origin | None:
    """``(scheme, host, port)`` of an absolute http(s) URL without user information;
    ``None`` for anything else (the port defaults by scheme, the host is lower case)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    return parts.scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[parts.scheme]


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def destination_problem(url: str, owner_url: str, env: str, owner: str) -> str | None:
    """Why a credential that belongs to ``owner_url``'s origin may not go to ``url``
    (``env`` is the map's environment; ``owner`` names ``owner_url`` in the message), or
    ``None`` when it may."""
    destination = origin_of(url)
    if destination is None:
        return "must be an absolute http(s) URL without user information"
    if destination != origin_of(owner_url):
        return f"must be on {owner}'s origin (scheme, host and port)"
    scheme, host, _ = destination
    if scheme != "https" and not (env == TargetEnv.EMBEDDED and is_loopback(host)):
        return "must be https (plain http only to a loopback host in embedded)"
    return None
