"""Credentials go only to their origin, over TLS: the OIDC client secret to A1's token
endpoint (as A1's own discovery document names it), the A8 key to A8, the admin token to
the app being controlled. Anything else is refused before a request is sent, in one line
that names the field and the rule and no value."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx
import pytest
from secondconf.checks.safety.secrets_scan import encodings
from secondconf.core.secret import Secret
from secondconf.target.a8 import A8Client, TelemetryError
from secondconf.target.control import ControlError, TargetControl
from secondconf.target.credentials import destination_problem, origin_of
from secondconf.target.identity import TokenError, fetch_token, fetch_token_sync
from secondconf.target.login import LoginObservation, log_in
from secondconf.target.map import BrowserLogin, SystemMap

from tests.plugin.system_maps import system_map_at

CLIENT_SECRET = "oidc-client-secret/+value-that-is-long-enough"
A8_KEY = "a8-telemetry-key/+value-that-is-long-enough"
ADMIN_TOKEN = "reftarget-admin-token/+value-long-enough"
SUBJECT = "test_student_e2e_01"
A1 = "https://a1.test"


def jwt_for(subject: str) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part({'sub': subject, 'tid': 't1'})}.sig"


class FakeA1:
    """A1 (and every other host) behind one MockTransport: it answers discovery with
    ``document``, ``/authorize`` with ``login_page`` and any POST with a token, and
    records every request it sees."""

    def __init__(self, document: dict[str, Any], login_page: str = "") -> None:
        self.document = document
        self.login_page = login_page
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json=self.document)
        if request.url.path == "/authorize":
            return httpx.Response(200, text=self.login_page, headers={"Content-Type": "text/html"})
        return httpx.Response(200, json={"access_token": jwt_for(SUBJECT)})

    def hosts(self) -> list[str]:
        return [f"{r.url.scheme}://{r.url.netloc.decode()}" for r in self.requests]

    def carried(self, value: str) -> list[str]:
        """Every request that carried ``value`` in any encoding (URL, headers or body)."""
        needles = set(encodings(value)) | set(
            encodings(f"qa-harness:{value}")
        )  # Basic auth encodes ``client:secret``
        found = []
        for request in self.requests:
            raw = (
                str(request.url).encode()
                + b"".join(k + b": " + v for k, v in request.headers.raw)
                + request.content
            )
            if any(needle in raw for needle in needles):
                found.append(str(request.url))
        return found


def discovery(issuer: str = A1, token_endpoint: str = f"{A1}/oauth/token") -> dict[str, Any]:
    return {"issuer": issuer, "token_endpoint": token_endpoint, "jwks_uri": f"{issuer}/jwks"}


def fetch(fake: FakeA1, system_map: SystemMap) -> Any:
    with httpx.Client(transport=httpx.MockTransport(fake.handler)) as client:
        return fetch_token_sync(
            client, system_map, Secret("OIDC_CLIENT_SECRET", CLIENT_SECRET), SUBJECT
        )


def test_the_happy_path_sends_the_secret_to_a1s_token_endpoint_only() -> None:
    fake = FakeA1(discovery())
    token = fetch(fake, system_map_at({"A1": A1}))
    assert token.subject == SUBJECT
    assert fake.hosts() == [A1, A1]
    assert fake.carried(CLIENT_SECRET) == [f"{A1}/oauth/token"]


@pytest.mark.asyncio
async def test_the_async_fetch_follows_the_same_rule() -> None:
    fake = FakeA1(discovery(token_endpoint="https://evil.test/oauth/token"))
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake.handler)) as client:
        with pytest.raises(TokenError, match="token_endpoint must be on the issuer's origin"):
            await fetch_token(
                client, system_map_at({"A1": A1}), Secret("OIDC_CLIENT_SECRET", CLIENT_SECRET), None
            )
    assert fake.hosts() == [A1]
    assert fake.carried(CLIENT_SECRET) == []


REFUSED: dict[str, tuple[dict[str, Any], str, str]] = {
    "token endpoint on another host": (
        discovery(token_endpoint="https://evil.test/oauth/token"),
        "staging",
        "token_endpoint must be on the issuer's origin (scheme, host and port)",
    ),
    "token endpoint on another port": (
        discovery(token_endpoint="https://a1.test:8443/oauth/token"),
        "staging",
        "token_endpoint must be on the issuer's origin",
    ),
    "token endpoint over plain http": (
        discovery(token_endpoint="http://a1.test/oauth/token"),
        "staging",
        "token_endpoint must be on the issuer's origin",
    ),
    "token endpoint with user information": (
        discovery(token_endpoint="https://a1.test@evil.test/oauth/token"),
        "staging",
        "token_endpoint must be an absolute http(s) URL without user information",
    ),
    "issuer of another provider": (
        discovery(issuer="https://evil.test", token_endpoint="https://evil.test/oauth/token"),
        "staging",
        "issuer must be identical to the map's identity base URL",
    ),
    "issuer with a trailing slash": (
        discovery(issuer=f"{A1}/"),
        "staging",
        "issuer must be identical",
    ),
    "no issuer": ({"token_endpoint": f"{A1}/oauth/token"}, "staging", "issuer must be"),
}


@pytest.mark.parametrize(("document", "env", "message"), REFUSED.values(), ids=REFUSED)
def test_a_token_endpoint_a1_does_not_vouch_for_is_refused_before_sending(
    document: dict[str, Any], env: str, message: str
) -> None:
    fake = FakeA1(document)
    with pytest.raises(TokenError) as caught:
        fetch(fake, system_map_at({"A1": A1}, env=env))
    text = str(caught.value)
    assert message in text
    assert text.endswith("the client secret was not sent")
    assert "\n" not in text
    assert "evil" not in text
    assert CLIENT_SECRET not in text
    assert fake.hosts() == [A1]  # discovery only: nothing reached the named endpoint
    assert fake.carried(CLIENT_SECRET) == []


@pytest.mark.parametrize("env", ["staging", "prod_observe"])
def test_plain_http_is_refused_outside_embedded_even_on_a1s_own_origin(env: str) -> None:
    a1 = "http://127.0.0.1:8101"
    fake = FakeA1(discovery(a1, f"{a1}/oauth/token"))
    with pytest.raises(TokenError, match=r"token_endpoint must be https \(plain http only"):
        fetch(fake, system_map_at({"A1": a1}, env=env))
    assert fake.carried(CLIENT_SECRET) == []


def test_plain_http_to_loopback_is_allowed_in_embedded() -> None:
    a1 = "http://127.0.0.1:8101"
    fake = FakeA1(discovery(a1, f"{a1}/oauth/token"))
    assert fetch(fake, system_map_at({"A1": a1}, env="embedded")).subject == SUBJECT
    assert fake.carried(CLIENT_SECRET) == [f"{a1}/oauth/token"]


def test_plain_http_to_another_host_is_refused_in_embedded_too() -> None:
    a1 = "http://a1.test"
    fake = FakeA1(discovery(a1, f"{a1}/oauth/token"))
    with pytest.raises(TokenError, match="token_endpoint must be https"):
        fetch(fake, system_map_at({"A1": a1}, env="embedded"))
    assert fake.carried(CLIENT_SECRET) == []


def test_the_issuer_the_map_names_is_the_one_trusted() -> None:
    issuer = "https://login.a1.test"
    fake = FakeA1(discovery(issuer, f"{issuer}/oauth/token"))
    assert fetch(fake, system_map_at({"A1": A1}, identity_base_url=issuer)).subject == SUBJECT
    assert fake.carried(CLIENT_SECRET) == [f"{issuer}/oauth/token"]


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://A1.test/x", ("https", "a1.test", 443)),
        ("http://127.0.0.1:8101/", ("http", "127.0.0.1", 8101)),
        ("https://[::1]:9/", ("https", "::1", 9)),
        ("ftp://a1.test/", None),
        ("https://u:p@a1.test/", None),
        ("https://a1.test:99999/", None),
        ("/oauth/token", None),
    ],
)
def test_an_origin_is_scheme_host_and_port(url: str, origin: Any) -> None:
    assert origin_of(url) == origin


def test_ipv6_and_localhost_loopback_are_loopback_in_embedded() -> None:
    for url in ("http://[::1]:8101/x", "http://localhost:8101/x"):
        assert destination_problem(url, url, "embedded", "A1") is None
        assert destination_problem(url, url, "staging", "A1") is not None


# --- the A8 key --------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json={"events": [], "truncated": False})


async def ask_a8(system_map: SystemMap) -> Recorder:
    recorder = Recorder()
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder.handler)) as client:
        a8 = A8Client(client, system_map, Secret("A8_TELEMETRY_KEY", A8_KEY))
        await a8.raw_events(app_id="A1")
    return recorder


@pytest.mark.asyncio
async def test_the_a8_key_goes_to_a8_over_https() -> None:
    recorder = await ask_a8(system_map_at({"A8": "https://a8.test"}))
    assert [r.url.host for r in recorder.requests] == ["a8.test"]
    assert recorder.requests[0].headers["Authorization"] == f"Bearer {A8_KEY}"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("system_map", "message"),
    [
        (
            system_map_at({"A8": "http://a8.test"}),
            "telemetry.base_url must be https (plain http only to a loopback host in embedded)",
        ),
        (
            system_map_at({"A8": "http://127.0.0.1:8108"}, env="staging"),
            "telemetry.base_url must be https",
        ),
        (
            replace(
                system_map_at({"A8": "https://a8.test"}),
                telemetry_base_url="https://elsewhere.test",
            ),
            "telemetry.base_url must be on A8's origin (scheme, host and port)",
        ),
    ],
    ids=["http", "http on loopback in staging", "another origin"],
)
async def test_the_a8_key_is_refused_anywhere_else_before_sending(
    system_map: SystemMap, message: str
) -> None:
    with pytest.raises(TelemetryError) as caught:
        await ask_a8(system_map)
    assert message in str(caught.value)
    assert str(caught.value).endswith("A8_TELEMETRY_KEY not sent")
    assert A8_KEY not in str(caught.value)


@pytest.mark.asyncio
async def test_nothing_is_sent_when_the_a8_key_is_refused() -> None:
    recorder = Recorder()
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder.handler)) as client:
        a8 = A8Client(
            client, system_map_at({"A8": "http://a8.test"}), Secret("A8_TELEMETRY_KEY", A8_KEY)
        )
        with pytest.raises(TelemetryError):
            await a8.post_events([{"event": "x"}])
        with pytest.raises(TelemetryError):
            await a8.events(app_id="A1")
    assert recorder.requests == []


@pytest.mark.asyncio
async def test_plain_http_to_a8_on_loopback_is_allowed_in_embedded() -> None:
    recorder = await ask_a8(system_map_at({"A8": "http://127.0.0.1:8108"}, env="embedded"))
    assert len(recorder.requests) == 1


# --- the admin token ---------------------------------------------------------------------


class _AdminApp(BaseHTTPRequestHandler):
    seen: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        type(self).seen.append(self.headers.get("Authorization", ""))
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def admin_app() -> Iterator[tuple[str, list[str]]]:
    """A plain-http app on loopback that records the Authorization of every POST."""
    seen: list[str] = []
    handler = type("Handler", (_AdminApp,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_the_admin_token_is_refused_over_plain_http_outside_embedded(
    admin_app: tuple[str, list[str]],
) -> None:
    url, seen = admin_app
    control = TargetControl(
        system_map_at({"A3": url}, env="staging"), Secret("REFTARGET_ADMIN_TOKEN", ADMIN_TOKEN)
    )
    with pytest.raises(ControlError) as caught:
        control.set_faults("A3", {"disabled_rules": ["dedupe"]})
    assert str(caught.value) == (
        "A3 /_admin/faults: apps.A3.base_url must be https (plain http only to a loopback "
        "host in embedded); REFTARGET_ADMIN_TOKEN not sent"
    )
    assert seen == []


def test_the_admin_token_goes_to_the_controlled_app_on_loopback_in_embedded(
    admin_app: tuple[str, list[str]],
) -> None:
    url, seen = admin_app
    control = TargetControl(
        system_map_at({"A3": url}, env="embedded"), Secret("REFTARGET_ADMIN_TOKEN", ADMIN_TOKEN)
    )
    control.set_faults("A3", {"disabled_rules": ["dedupe"]})
    assert seen == [f"Bearer {ADMIN_TOKEN}"]


# --- the login password --------------------------------------------------------------------

LOGIN = BrowserLogin("student-web", "https://a5.test/auth/callback", 3600)
PASSWORD = "login-password/+value-long-enough"


def login_page(action: str) -> FakeA1:
    """A1 whose discovery names its authorization endpoint, whose login form posts to
    ``action``; every request is recorded."""
    page = (
        f'<form action="{action}" method="post"><input name="username">'
        '<input name="password" type="password"></form>'
    )
    return FakeA1({"issuer": A1, "authorization_endpoint": f"{A1}/authorize"}, page)


def log_in_as_student(fake: FakeA1, env: str = "staging") -> LoginObservation:
    system_map = replace(system_map_at({"A1": A1}, env=env), browser_login=LOGIN)
    with httpx.Client(transport=httpx.MockTransport(fake.handler)) as browser:
        return log_in(browser, system_map, LOGIN, Secret("OIDC_CLIENT_SECRET", PASSWORD))


@pytest.mark.parametrize(
    ("action", "rule"),
    [
        ("https://evil.test/login", "must be on A1's origin (scheme, host and port)"),
        ("http://a1.test/login", "must be on A1's origin"),
        ("https://a1.test@evil.test/login", "must be an absolute http(s) URL without user"),
    ],
)
def test_a_login_form_posting_elsewhere_gets_no_password(action: str, rule: str) -> None:
    fake = login_page(action)
    observed = log_in_as_student(fake)
    assert observed.problem is not None
    assert f"the login form's action {rule}" in observed.problem
    assert observed.problem.endswith("OIDC_CLIENT_SECRET not sent")
    assert fake.hosts() == [A1, A1]  # discovery and the login page: no post at all
    assert fake.carried(PASSWORD) == []


def test_the_login_posts_the_password_to_a1() -> None:
    fake = login_page("/login")
    log_in_as_student(fake)
    assert fake.carried(PASSWORD) == [f"{A1}/login"]
