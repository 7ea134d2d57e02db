"""The a1_session cookie and the server-side session behind it (CK-29, CK-30, CK-32)."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

import httpx
from reftarget.identity.cookies import cleared_session_cookie, session_cookie
from reftarget.identity.sessions import Session

if TYPE_CHECKING:
    from tests.ecosystem.identity.a1_server import A1, MovableClock


def attributes(set_cookie: str) -> tuple[str, dict[str, str]]:
    """(name=value, {lower-case attribute: value}) of one raw Set-Cookie header."""
    pair, *rest = (part.strip() for part in set_cookie.split(";"))
    attrs = {}
    for part in rest:
        name, _, value = part.partition("=")
        attrs[name.lower()] = value
    return pair, attrs


def session_cookies(response: httpx.Response) -> list[str]:
    return [c for c in response.headers.get_list("set-cookie") if c.startswith("a1_session=")]


def with_cookie(token: str) -> dict[str, str]:
    return {"Cookie": f"a1_session={token}"}


def test_login_sets_one_secure_httponly_samesite_none_host_only_cookie(
    a1: A1, http: httpx.Client
) -> None:
    response, _, _ = a1.log_in(http)

    cookies = session_cookies(response)
    assert len(cookies) == 1
    _, attrs = attributes(cookies[0])
    assert {"secure", "httponly"} <= attrs.keys()
    assert attrs["samesite"] == "None"
    assert attrs["path"] == "/"
    assert "domain" not in attrs


def test_cookie_max_age_is_the_session_ttl_and_expires_is_date_plus_max_age(
    a1: A1, http: httpx.Client
) -> None:
    response, _, _ = a1.log_in(http)

    _, attrs = attributes(session_cookies(response)[0])
    assert int(attrs["max-age"]) == a1.session_ttl_s
    expires = parsedate_to_datetime(attrs["expires"])
    date = parsedate_to_datetime(response.headers["date"])
    assert abs((expires - date).total_seconds() - a1.session_ttl_s) <= 2


def test_the_session_endpoint_reports_the_logged_in_user(a1: A1, http: httpx.Client) -> None:
    response, _, _ = a1.log_in(http)

    session = http.get("/oauth/session", headers=with_cookie(a1.session_token(response)))

    assert session.status_code == 200
    assert (session.json()["sub"], session.json()["tid"]) == (
        "test_student_e2e_01",
        "tenant_qa_b2c",
    )


def test_no_cookie_means_no_session(http: httpx.Client) -> None:
    response = http.get("/oauth/session")

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def test_logout_clears_the_cookie_with_max_age_0_and_the_same_path(
    a1: A1, http: httpx.Client
) -> None:
    login, _, _ = a1.log_in(http)

    logout = http.post("/oauth/logout", headers=with_cookie(a1.session_token(login)))

    assert logout.status_code == 204
    cookies = session_cookies(logout)
    assert len(cookies) == 1
    pair, attrs = attributes(cookies[0])
    assert pair == "a1_session="
    assert attrs["max-age"] == "0"
    assert attrs["path"] == "/"
    assert "domain" not in attrs
    assert {"secure", "httponly"} <= attrs.keys()


def test_after_logout_the_old_cookie_is_refused(a1: A1, http: httpx.Client) -> None:
    login, _, _ = a1.log_in(http)
    token = a1.session_token(login)
    http.post("/oauth/logout", headers=with_cookie(token))

    assert http.get("/oauth/session", headers=with_cookie(token)).status_code == 401


def test_the_session_ends_server_side_after_its_ttl(
    a1: A1, http: httpx.Client, clock: MovableClock
) -> None:
    login, _, _ = a1.log_in(http)
    token = a1.session_token(login)
    assert http.get("/oauth/session", headers=with_cookie(token)).status_code == 200

    clock.advance(a1.session_ttl_s + 1)

    assert http.get("/oauth/session", headers=with_cookie(token)).status_code == 401


def test_an_expired_session_no_longer_skips_the_login_form(
    a1: A1, http: httpx.Client, clock: MovableClock
) -> None:
    login, _, _ = a1.log_in(http)
    clock.advance(a1.session_ttl_s + 1)
    _, challenge = a1.pkce_pair()

    response = http.get(
        "/oauth/authorize",
        params=a1.authorize_params(challenge),
        headers=with_cookie(a1.session_token(login)),
    )

    assert response.status_code == 200
    assert "location" not in response.headers


def test_a_configured_cookie_domain_is_set_and_cleared_alike() -> None:
    session = Session("u", "t", 1_800_000_000.0)

    _, set_attrs = attributes(session_cookie("tok", session, 3600, "reftarget.test"))
    _, clear_attrs = attributes(cleared_session_cookie("reftarget.test"))

    assert set_attrs["domain"] == clear_attrs["domain"] == "reftarget.test"
    assert set_attrs["path"] == clear_attrs["path"] == "/"


def test_a_cross_origin_logout_is_refused(a1: A1, http: httpx.Client) -> None:
    login, _, _ = a1.log_in(http)
    token = a1.session_token(login)

    response = http.post(
        "/oauth/logout", headers=with_cookie(token) | {"Origin": "https://evil.example"}
    )

    assert response.status_code == 403
    assert http.get("/oauth/session", headers=with_cookie(token)).status_code == 200
