"""The browser's login on A1: authorization code + PKCE, as a synthetic identity.

GET the authorization endpoint (:func:`authorize_params`: a fresh state and S256 code
challenge), read the login page's form generically (its action and hidden inputs; the
field names come from the map's ``identity.browser_login``), POST the credentials, and
keep the ``Set-Cookie`` headers of that answer one by one, each without its value: the
cookie is a credential, and a cookie jar would merge, normalise or drop the attributes
the cookie checks (:mod:`secondconf.checks.oidc.cookies`) judge. The redirect-URI check
(:mod:`secondconf.checks.oidc.provider`) sends the same authorization request. The password
is posted only to A1's origin over TLS (:mod:`secondconf.target.credentials`): a form whose
action points elsewhere is a problem, and the password is not sent.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from typing import Final
from urllib.parse import urljoin, urlsplit

import httpx

from secondconf.contract.platform import SyntheticIdentity
from secondconf.core.clock import Clock, SystemClock
from secondconf.core.secret import Secret
from secondconf.engine.evidence import RequestRecord
from secondconf.target.credentials import destination_problem
from secondconf.target.map import BrowserLogin, SystemMap
from secondconf.target.oidc_documents import b64url, get_discovery

SUBJECT: Final = str(SyntheticIdentity.STUDENT)  # who logs in


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge) as RFC 7636 §4 builds them."""
    verifier = secrets.token_urlsafe(48)
    return verifier, b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def authorize_params(login: BrowserLogin, redirect_uri: str) -> dict[str, str]:
    """An authorization-code + PKCE request for the browser client (fresh state/challenge)."""
    _, challenge = pkce_pair()
    return {
        "response_type": "code",
        "client_id": login.client_id,
        "redirect_uri": redirect_uri,
        "scope": "openid",
        "state": secrets.token_urlsafe(16),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }


@dataclass(frozen=True)
class SetCookie:
    """One ``Set-Cookie`` header without its value: name and attributes (names lowercased)."""

    name: str
    has_value: bool
    attributes: Mapping[str, str | None]

    @property
    def clears(self) -> bool:
        """Whether this header deletes the cookie rather than setting it."""
        max_age = self.attributes.get("max-age")
        return not self.has_value or (
            max_age is not None and max_age.strip().startswith(("0", "-"))
        )


def parse_set_cookie(header: str) -> SetCookie:
    """A ``Set-Cookie`` header as RFC 6265 §5.2 reads it (the last attribute of a name wins)."""
    pair, *attributes = header.split(";")
    name, _, value = pair.partition("=")
    parsed: dict[str, str | None] = {}
    for attribute in attributes:
        key, sep, raw = attribute.strip().partition("=")
        if key:
            parsed[key.strip().lower()] = raw.strip() if sep else None
    return SetCookie(name.strip(), bool(value.strip()), parsed)


@dataclass(frozen=True)
class LoginObservation:
    """What the login answer showed (``problem`` set when no login answer could be judged)."""

    cookies: tuple[SetCookie, ...] = ()
    date: str | None = None
    received_at: datetime | None = None
    status: int | None = None
    problem: str | None = None
    requests: tuple[RequestRecord, ...] = field(default=())


@dataclass
class LoginForm:
    """A ``<form>`` of a page: where it posts, and its inputs (hidden ones with values)."""

    action: str | None
    method: str
    inputs: dict[str, str] = field(default_factory=dict)
    hidden: dict[str, str] = field(default_factory=dict)


class _FormReader(HTMLParser):
    """Every ``<form>`` of a page with its inputs (hidden ones with their values)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[LoginForm] = []
        self._open = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(LoginForm(values.get("action"), values.get("method", "get").lower()))
            self._open = True
        elif tag == "input" and self._open and values.get("name"):
            form = self.forms[-1]
            form.inputs[values["name"]] = values.get("type", "text").lower()
            if values.get("type", "").lower() == "hidden":
                form.hidden[values["name"]] = values.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = False


def login_form(page: str, login: BrowserLogin) -> LoginForm | None:
    """The page's form that has the map's username and password fields."""
    reader = _FormReader()
    reader.feed(page)
    for form in reader.forms:
        if login.username_field in form.inputs and login.password_field in form.inputs:
            return form
    return None


def log_in(
    client: httpx.Client,
    system_map: SystemMap,
    login: BrowserLogin,
    password: Secret,
    *,
    clock: Clock | None = None,
) -> LoginObservation:
    """Log in as the synthetic student on A1's form and observe the answer's cookies."""
    clock = clock or SystemClock()
    discovery, problem = get_discovery(client, system_map)
    endpoint = discovery.get("authorization_endpoint") if discovery else None
    if not isinstance(endpoint, str):
        return LoginObservation(problem=problem or "discovery names no authorization_endpoint")
    client.cookies.clear()  # a fresh browser: no earlier session decides the answer
    try:
        page = client.get(endpoint, params=authorize_params(login, login.redirect_uri))
    except httpx.HTTPError as error:
        return LoginObservation(
            problem=f"authorization endpoint: no answer ({type(error).__name__})"
        )
    requests = [
        RequestRecord(
            "A1",
            "GET",
            urlsplit(endpoint).path,
            "authorization request (PKCE S256)",
            page.status_code,
        )
    ]
    form = login_form(page.text, login) if page.status_code == 200 else None
    if form is None:
        return LoginObservation(
            status=page.status_code,
            problem=f"the authorization endpoint answered {page.status_code} without a login "
            f"form with fields {login.username_field!r} and {login.password_field!r}",
            requests=tuple(requests),
        )
    action = urljoin(str(page.url), form.action or "")
    refused = destination_problem(action, system_map.identity_base_url, system_map.env, "A1")
    if refused is not None:
        return LoginObservation(
            status=page.status_code,
            problem=f"the login form's action {refused}; {password.name} not sent",
            requests=tuple(requests),
        )
    fields = dict(form.hidden) | {login.username_field: SUBJECT}
    try:  # the password only in the call: a local holding it would show in a traceback
        answer = client.post(action, data=fields | {login.password_field: password.reveal()})
    except httpx.HTTPError as error:
        return LoginObservation(problem=f"login form post: no answer ({type(error).__name__})")
    received_at = clock.now()
    client.cookies.clear()  # the session is not reused by later requests of this client
    requests.append(
        RequestRecord(
            "A1", "POST", urlsplit(action).path, f"login form as {SUBJECT}", answer.status_code
        )
    )
    location = answer.headers.get("location", "")
    if answer.status_code not in (302, 303) or not location.startswith(login.redirect_uri):
        return LoginObservation(
            status=answer.status_code,
            problem=f"the login did not redirect to the registered redirect_uri "
            f"(status {answer.status_code}): wrong password variable {login.password_env}?",
            requests=tuple(requests),
        )
    return LoginObservation(
        cookies=tuple(parse_set_cookie(h) for h in answer.headers.get_list("set-cookie")),
        date=answer.headers.get("date"),
        received_at=received_at,
        status=answer.status_code,
        requests=tuple(requests),
    )
