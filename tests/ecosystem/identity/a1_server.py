"""A real A1 on loopback HTTPS for the identity tests, and the steps those tests repeat.

The server runs in a thread under uvicorn. Its clock is real time plus an offset that a
test may move forward (the ``clock`` fixture puts it back afterwards).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import unescape
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import uvicorn
from reftarget.identity import (
    STUDENT_CLIENT_ID,
    IdentityProvider,
)
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.loopback import start

QA_SECRET = "qa-secret-" + "x" * 24
ADMIN_TOKEN = "admin-token-" + "y" * 24
PASSWORD = "correct horse battery staple"
REDIRECT_URI = "https://student.example.test/callback"
SESSION_TTL_S = 3600
TOKEN_TTL_S = 900


class MovableClock:
    """Real time plus an offset that only moves forward by hand."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class RequestCounter:
    """ASGI middleware that counts requests for one path (to watch JWKS refetches)."""

    def __init__(self, app: ASGIApp, path: str) -> None:
        self.app = app
        self.path = path
        self.count = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path:
            self.count += 1
        await self.app(scope, receive, send)


@dataclass
class A1:
    """The running provider and the steps tests repeat."""

    issuer: str
    provider: IdentityProvider
    clock: MovableClock
    ca_file: str
    jwks_requests: RequestCounter
    ssl_context: ssl.SSLContext = field(init=False)

    qa_secret = QA_SECRET
    password = PASSWORD
    session_ttl_s = SESSION_TTL_S
    token_ttl_s = TOKEN_TTL_S

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def __post_init__(self) -> None:
        self.ssl_context = ssl.create_default_context(cafile=self.ca_file)

    def client(self) -> httpx.Client:
        """A client that keeps no cookies: tests send ``a1_session`` explicitly."""
        no_cookies = CookieJar(DefaultCookiePolicy(allowed_domains=[]))
        return httpx.Client(base_url=self.issuer, verify=self.ssl_context, cookies=no_cookies)

    @staticmethod
    def pkce_pair() -> tuple[str, str]:
        """A fresh (code_verifier, S256 code_challenge)."""
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode()).digest()
        return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    @staticmethod
    def redirect_query(response: httpx.Response) -> dict[str, str]:
        """The single-valued query parameters of a redirect's Location."""
        query = parse_qs(urlsplit(response.headers["location"]).query, strict_parsing=True)
        return {name: values[0] for name, values in query.items()}

    @staticmethod
    def session_token(response: httpx.Response) -> str:
        """The a1_session value from the response's raw Set-Cookie list."""
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            if name == "a1_session":
                return rest.split(";", 1)[0]
        raise AssertionError("no a1_session cookie was set")

    def qa_token_response(self, http: httpx.Client, **form: str) -> httpx.Response:
        """client_credentials as qa-harness with client_secret_basic."""
        return http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", **form},
            auth=("qa-harness", QA_SECRET),
        )

    def qa_token(self, http: httpx.Client, **form: str) -> str:
        response = self.qa_token_response(http, **form)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def authorize_params(self, challenge: str, **overrides: str) -> dict[str, str]:
        params = {
            "response_type": "code",
            "client_id": STUDENT_CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "scope": "openid reftarget",
            "state": "st-" + secrets.token_hex(4),
            "nonce": "n-" + secrets.token_hex(4),
        }
        return params | overrides

    def submit_login(
        self, http: httpx.Client, params: dict[str, str], password: str = PASSWORD
    ) -> httpx.Response:
        """Open the login page for ``params`` and post its form back with credentials."""
        page = http.get("/oauth/authorize", params=params)
        assert page.status_code == 200, page.text
        hidden = dict(
            (unescape(name), unescape(value))
            for name, value in re.findall(
                r'<input type="hidden" name="([^"]*)" value="([^"]*)">', page.text
            )
        )
        form = hidden | {"username": "test_student_e2e_01", "password": password}
        return http.post("/oauth/authorize", data=form)

    def log_in(self, http: httpx.Client) -> tuple[httpx.Response, str, str]:
        """A successful login: (the 303 response, the code, the code_verifier)."""
        verifier, challenge = self.pkce_pair()
        response = self.submit_login(http, self.authorize_params(challenge))
        assert response.status_code == 303, response.text
        return response, self.redirect_query(response)["code"], verifier

    def exchange(self, http: httpx.Client, code: str, verifier: str, **form: str) -> httpx.Response:
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": STUDENT_CLIENT_ID,
            "code_verifier": verifier,
        }
        return http.post("/oauth/token", data=data | form)


def cheap_hash(password: str) -> str:
    """A valid scrypt hash at 1/16 of the production cost: logins are most of this suite's time.

    ``verify_password`` reads the cost from the hash, so the login path is the real one.
    """
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**10, r=8, p=1, dklen=32)
    return "$".join(
        (
            "scrypt",
            "1024",
            "8",
            "1",
            base64.b64encode(salt).decode(),
            base64.b64encode(digest).decode(),
        )
    )


def serve(
    app: Any, sock: socket.socket, cert_file: Path
) -> tuple[uvicorn.Server, threading.Thread]:
    """Start A1 over HTTPS on ``sock``, bound before A1 was built (its issuer is the URL).

    The caller stops it: ``server.should_exit = True``, then join ``thread``.
    """
    return start(app, sock, cert_file)
