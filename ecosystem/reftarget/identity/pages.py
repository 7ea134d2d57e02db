"""A1's HTML pages: the login form, the sign-up form, and the error page for unredirectable
requests.

Every value is HTML-escaped; the form carries the authorization request in hidden fields
and the provider validates them again on submit, so nothing in the page is trusted.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

_LOGIN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head>
<body><h1>Sign in</h1>{error}
<form method="post" action="{action}">
{hidden}
<label>Username <input name="username" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required>
</label>
<button type="submit">Sign in</button>
</form></body></html>
"""

_SIGNUP = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Create your account</title></head>
<body><h1>Create your account</h1>{error}
<form id="signup" method="post" action="{action}">
{hidden}
<label>Username <input name="username" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="new-password" required>
</label>
<label>Age (years) <input name="age" type="number" min="0" max="130" step="1" required></label>
<label><input name="parental_consent" type="checkbox" value="yes">
A parent or guardian has given consent</label>
<button type="submit">Create account</button>
</form></body></html>
"""

_ERROR = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1><p>{detail}</p></body></html>
"""


def login_page(action: str, fields: Mapping[str, str], error: str | None = None) -> str:
    """The login form, posting ``fields`` (the authorization request) and credentials."""
    hidden = _hidden(fields)
    message = "" if error is None else f'<p role="alert">{escape(error)}</p>'
    return _LOGIN.format(action=escape(action), error=message, hidden=hidden)


def signup_page(action: str, fields: Mapping[str, str], error: str | None = None) -> str:
    """The sign-up form (OpenID Connect Prompt Create): ``form#signup`` with the §14 age."""
    hidden = _hidden(fields)
    message = "" if error is None else f'<p role="alert">{escape(error)}</p>'
    return _SIGNUP.format(action=escape(action), error=message, hidden=hidden)


def error_page(title: str, detail: str) -> str:
    """An error shown at A1 instead of redirecting to an unverified URI."""
    return _ERROR.format(title=escape(title), detail=escape(detail))


def _hidden(fields: Mapping[str, str]) -> str:
    return "\n".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in fields.items()
    )
