"""Two cookie faults, applied to responses at the seam, so the identity package keeps one
correct cookie writer and the harness's cookie checks can still be shown to catch the bugs:

- ``cookie_attributes``: session cookies lose ``Secure`` and ``SameSite=None`` (CK-29).
- ``cookie_ttl_domain``: a cookie being set lives ``WRONG_MAX_AGE_S`` (not the TTL the
  system map states) and loses its ``Expires``, as a deployment with a stale TTL would.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reftarget.core.faults import Faults

_WEAKENED = re.compile(rb";\s*(Secure|SameSite=None)(?=;|$)", re.IGNORECASE)
_MAX_AGE = re.compile(rb"(;\s*Max-Age=)([1-9][0-9]*)", re.IGNORECASE)
_EXPIRES = re.compile(rb";\s*Expires=[^;]*", re.IGNORECASE)
WRONG_MAX_AGE_S = 60


def weaken_cookie(value: bytes) -> bytes:
    """A ``Set-Cookie`` value without its ``Secure`` and ``SameSite=None`` attributes."""
    return _WEAKENED.sub(b"", value)


def shorten_cookie(value: bytes) -> bytes:
    """A cookie being set (positive Max-Age) with the wrong lifetime and no Expires."""
    if _MAX_AGE.search(value) is None:
        return value  # a deletion (Max-Age=0) stays a deletion
    value = _MAX_AGE.sub(rb"\g<1>" + str(WRONG_MAX_AGE_S).encode(), value)
    return _EXPIRES.sub(b"", value)


class CookieFaultMiddleware:
    """Rewrites ``Set-Cookie`` headers while ``cookie_attributes`` or ``cookie_ttl_domain``
    is off."""

    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        weaken = not self.faults.rule_enabled("cookie_attributes")
        shorten = not self.faults.rule_enabled("cookie_ttl_domain")
        if scope["type"] != "http" or not (weaken or shorten):
            await self.app(scope, receive, send)
            return

        def rewrite(value: bytes) -> bytes:
            value = weaken_cookie(value) if weaken else value
            return shorten_cookie(value) if shorten else value

        async def weakening_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    (k, rewrite(v) if k.lower() == b"set-cookie" else v)
                    for k, v in message.get("headers", [])
                ]
            await send(message)

        await self.app(scope, receive, weakening_send)
