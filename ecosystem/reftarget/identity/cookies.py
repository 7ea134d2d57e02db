"""The ``a1_session`` cookie, written by hand so every attribute is exactly as documented.

``Secure; HttpOnly; SameSite=None; Path=/`` because A1 is reached cross-site during the
login redirect (SameSite=None is dropped by browsers without Secure). ``Max-Age`` is the
session TTL and ``Expires`` is the server-side session's own expiry, so the cookie and the
session end together (Max-Age wins in browsers that see both; Expires serves old ones).
No ``Domain`` unless one is configured: a host-only cookie reaches A1 alone, which is all
the login flow needs; a configured parent domain shares it with sibling hosts.
"""

from __future__ import annotations

from email.utils import formatdate

from reftarget.identity.sessions import Session

COOKIE_NAME = "a1_session"
_ATTRIBUTES = "Path=/; Secure; HttpOnly; SameSite=None"


def session_cookie(token: str, session: Session, max_age_s: int, domain: str | None) -> str:
    """The ``Set-Cookie`` value that starts ``session``."""
    expires = formatdate(session.expires_at, usegmt=True)
    return f"{COOKIE_NAME}={token}; Max-Age={max_age_s}; Expires={expires}; {_scope(domain)}"


def cleared_session_cookie(domain: str | None) -> str:
    """The ``Set-Cookie`` value that deletes the cookie (same Path and Domain as when set)."""
    expires = formatdate(0, usegmt=True)
    return f"{COOKIE_NAME}=; Max-Age=0; Expires={expires}; {_scope(domain)}"


def _scope(domain: str | None) -> str:
    return _ATTRIBUTES if domain is None else f"Domain={domain}; {_ATTRIBUTES}"
