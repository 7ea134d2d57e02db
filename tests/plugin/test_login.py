"""The browser login (target/login.py) and the redirect-URI check against a fake A1: each
request they send is recorded, and no record carries the password, the session cookie or
the authorization code."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import httpx
from secondconf.checks.oidc.provider import check_redirect_matrix
from secondconf.core.secret import Secret
from secondconf.engine.evidence import RequestRecord
from secondconf.engine.verdict import Outcome
from secondconf.target.login import log_in
from secondconf.target.map import BrowserLogin, SystemMap

A1 = "https://a1.test"
REDIRECT = "https://a5.test/auth/callback"
LOGIN = BrowserLogin("student-web", REDIRECT, 3600)
PASSWORD = "pw-never-in-a-record"
SESSION = "a1_session=cookie-never-in-a-record; Max-Age=3600; Path=/; Secure; HttpOnly"
CODE = "code-never-in-a-record"
PAGE = (
    '<form action="/login" method="post"><input type="hidden" name="flow" value="f1">'
    '<input name="username"><input name="password" type="password"></form>'
)


def fake_a1(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/.well-known/openid-configuration":
        return httpx.Response(200, json={"authorization_endpoint": f"{A1}/authorize"})
    if request.url.path == "/authorize":
        if request.url.params.get("redirect_uri") != REDIRECT:
            return httpx.Response(400, json={"error": "invalid_request"})
        return httpx.Response(200, text=PAGE, headers={"Content-Type": "text/html"})
    if request.url.path == "/login" and request.method == "POST":
        form = parse_qs(request.content.decode())
        if form.get("password") != [PASSWORD]:
            return httpx.Response(401)
        return httpx.Response(
            303, headers={"Location": f"{REDIRECT}?code={CODE}", "Set-Cookie": SESSION}
        )
    return httpx.Response(404)


def system_map() -> SystemMap:
    return SystemMap(
        env="staging",
        generated_at="2026-11-26T00:00:00Z",
        apps={},
        telemetry_base_url="https://a8.test",
        identity_base_url=A1,
        qa_client_id="qa-harness",
        stripe_api_base=None,
        ca_bundle=None,
        browser_login=LOGIN,
    )


def client() -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(fake_a1))


def test_the_login_records_its_two_requests() -> None:
    with client() as browser:
        observed = log_in(browser, system_map(), LOGIN, Secret("OIDC_CLIENT_SECRET", PASSWORD))

    assert observed.problem is None
    assert [c.name for c in observed.cookies] == ["a1_session"]
    assert [(r.app, r.method, r.path, r.status) for r in observed.requests] == [
        ("A1", "GET", "/authorize", 200),
        ("A1", "POST", "/login", 303),
    ]
    rows = json.dumps([r.to_dict() for r in observed.requests])
    for secret in (PASSWORD, "cookie-never-in-a-record", CODE):
        assert secret not in rows


def test_a_refused_login_is_a_problem_with_its_requests() -> None:
    with client() as browser:
        observed = log_in(browser, system_map(), LOGIN, Secret("OIDC_CLIENT_SECRET", "wrong"))

    assert observed.problem is not None
    assert "redirect" in observed.problem
    assert [r.status for r in observed.requests] == [200, 401]


def test_the_redirect_matrix_records_each_uri_it_tried() -> None:
    with client() as browser:
        verdict = check_redirect_matrix(browser, system_map())

    assert verdict.outcome is Outcome.PASS, verdict.details["violations"]
    records = [RequestRecord.from_dict(row) for row in verdict.details["requests"]]
    assert len(records) == verdict.n >= 8
    assert {(r.app, r.method, r.path) for r in records} == {("A1", "GET", "/authorize")}
    assert records[0].sent == f"redirect_uri registered: {REDIRECT}"
    assert [r.status for r in records[1:]] == [400] * (len(records) - 1)
    assert all("?" not in r.path for r in records)  # never a query string (state, PKCE)
    assert urlsplit(REDIRECT).path in records[0].sent
