"""The ``cookie_attributes`` fault: session cookies lose ``Secure`` and ``SameSite=None``.

Applied to responses at the seam, so the identity package keeps one correct cookie
writer and the harness's cookie checks (CK-29) can still be shown to catch the bug.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reftarget.core.faults import Faults

_WEAKENED = re.compile(rb";\s*(Secure|SameSite=None)(?=;|$)", re.IGNORECASE)


def weaken_cookie(value: bytes) -> bytes:
    """A ``Set-Cookie`` value without its ``Secure`` and ``SameSite=None`` attributes."""
    return _WEAKENED.sub(b"", value)


class CookieFaultMiddleware:
    """Rewrites ``Set-Cookie`` headers while the ``cookie_attributes`` rule is off."""

    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.faults.rule_enabled("cookie_attributes"):
            await self.app(scope, receive, send)
            return

        async def weakening_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    (k, weaken_cookie(v) if k.lower() == b"set-cookie" else v)
                    for k, v in message.get("headers", [])
                ]
            await send(message)

        await self.app(scope, receive, weakening_send)
