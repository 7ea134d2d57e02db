"""The B2C journey over plain HTTP, step by step, as a browser would walk it (for the tests).

Each journey has its own client (a fresh cookie jar) sending the journey's headers on every
request (interface of issue 10: X-Trace-Id, X-Test-Run, X-Source, X-Idempotency-Key).
Redirects are followed by hand so each hop's answer can be asserted on.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from html import unescape
from typing import Any

import httpx

from tests.ecosystem.apps.target import SYNTHETIC, Target, new_trace_id

_HREF = re.compile(r'<a id="cta"[^>]* href="([^"]+)"')
_ATTR = re.compile(r'data-(page-id|arm)="([^"]+)"')
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@dataclass
class Journey:
    """One synthetic user's walk; ``answers`` keeps every hop's response by name."""

    target: Target
    username: str
    trace_id: str = field(default_factory=new_trace_id)
    answers: dict[str, httpx.Response] = field(default_factory=dict)
    cta: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        headers = SYNTHETIC | {
            "X-Trace-Id": self.trace_id,
            "X-Idempotency-Key": f"journey-{uuid.uuid4()}",
        }
        self.http = httpx.Client(
            verify=self.target.ssl, trust_env=False, timeout=15.0, headers=headers
        )

    def close(self) -> None:
        self.http.close()

    def _get(self, name: str, url: str) -> httpx.Response:
        self.answers[name] = self.http.get(url)
        return self.answers[name]

    def landing(self) -> httpx.Response:
        page = self._get("landing", self.target.map["pages"]["b2c.landing"])
        self.cta = dict(_ATTR.findall(page.text))
        return page

    def signup_form(self) -> httpx.Response:
        """Landing page, its CTA (A5's /auth/start) and A1's sign-up form."""
        page = self.landing()
        match = _HREF.search(page.text)
        assert match is not None, page.text
        start = self._get("start", unescape(match.group(1)))
        return self._get("signup_form", start.headers["location"])

    def sign_up(self, age: str = "20", password: str | None = None) -> httpx.Response:
        form = self.signup_form()
        fields = dict(_HIDDEN.findall(form.text))
        fields |= {
            "username": self.username,
            "password": password or self.target.secrets["OIDC_CLIENT_SECRET"],
            "age": age,
        }
        answer = self.http.post(self.target.url("A1", "/oauth/authorize"), data=fields)
        self.answers["sign_up"] = answer
        return answer

    def callback(self, age: str = "20") -> httpx.Response:
        signed_up = self.sign_up(age)
        assert signed_up.status_code == 303, signed_up.text
        return self._get("callback", signed_up.headers["location"])

    def checkout_page(self) -> httpx.Response:
        callback = self.callback()
        assert callback.status_code == 303, callback.text
        return self._get("checkout_page", callback.headers["location"])

    def pay(self, payment_method: str = "pm_card_visa") -> httpx.Response:
        page = self.checkout_page()
        session = re.search(r'name="session" value="([^"]+)"', page.text)
        assert session is not None, page.text
        form = {"session": session.group(1), "payment_method": payment_method}
        answer = self.http.post(self.target.url("A2", "/checkout/pay"), data=form)
        self.answers["pay"] = answer
        return answer


def result_of(page: httpx.Response) -> dict[str, str]:
    """``#result``'s data-status and data-payment-intent."""
    found = re.search(r'id="result" data-status="([^"]*)" data-payment-intent="([^"]*)"', page.text)
    assert found is not None, page.text
    return {"status": found.group(1), "payment_intent": found.group(2)}


def journey_tile(target: Target, trace_id: str) -> dict[str, Any]:
    board = target.a8("/v1/dashboards/funnel-status", trace_id=trace_id)
    [tile] = [t for t in board["tiles"] if t["tile"] == "b2c_journey"]
    return tile


def qa_headers(target: Target, **extra: str) -> dict[str, str]:
    """The qa client's own token (no subject), the synthetic tags, a fresh key and trace."""
    answer = target.http.post(
        target.url("A1", "/oauth/token"),
        data={"grant_type": "client_credentials"},
        auth=(target.map["identity"]["qa_client_id"], target.secrets["OIDC_CLIENT_SECRET"]),
    )
    answer.raise_for_status()
    return {
        "Authorization": f"Bearer {answer.json()['access_token']}",
        **SYNTHETIC,
        "X-Idempotency-Key": str(uuid.uuid4()),
        "X-Trace-Id": new_trace_id(),
        **extra,
    }


Walk = Callable[[int], Journey]  # the ``walk`` fixture: a fresh journey as student NN


def delete_identity(target: Target, subject: str) -> httpx.Response:
    return target.http.delete(
        target.url("A1", f"/v1/synthetic-identities/{subject}"), headers=qa_headers(target)
    )


def owned(target: Target, subject: str) -> httpx.Response:
    return target.http.get(
        target.url("A1", f"/v1/synthetic-identities/{subject}"), headers=qa_headers(target)
    )
