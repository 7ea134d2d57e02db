"""The two HTML pages A1 shows: the login form and the error page for unredirectable requests.

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

_ERROR = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1><p>{detail}</p></body></html>
"""


def login_page(action: str, fields: Mapping[str, str], error: str | None = None) -> str:
    """The login form, posting ``fields`` (the authorization request) and credentials."""
    hidden = "\n".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in fields.items()
    )
    message = "" if error is None else f'<p role="alert">{escape(error)}</p>'
    return _LOGIN.format(action=escape(action), error=message, hidden=hidden)


def error_page(title: str, detail: str) -> str:
    """An error shown at A1 instead of redirecting to an unverified URI."""
    return _ERROR.format(title=escape(title), detail=escape(detail))
