"""Diagnosis: one check per seed fix, each naming the fix a failing journey needs.

The seed's five fixes for a broken B2C funnel: the trace and idempotency headers enforced on
the funnel routes; A1's session cookie with ``SameSite=None; Secure; HttpOnly``; the cookie's
lifetime and domain as the system map states; the ``redirect_uri`` and A1's JWKS as A5
needs them; and A3's attribution of the conversion to the CTA's page and arm. Each check
reads what the run observed (the auth trace, the journeys' answers, A8's events, the header
probes) and returns the violations it found; an empty list means the fix holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from secondconf.checks.funnels.model import AuthStep, FunnelRun, Journey
from secondconf.target.map import BrowserLogin

A1_LOGIN_PATH: Final = "/oauth/authorize"
# What each fix says, as the runbook (docs/runbooks/b2c_recovery.md) names it.
FIXES: Final[Mapping[str, str]] = {
    "B2C-07": "enforce X-Trace-Id and X-Idempotency-Key on every funnel route (428 without)",
    "B2C-08": "set A1's session cookie with SameSite=None; Secure; HttpOnly",
    "B2C-09": "set A1's session cookie Max-Age and Domain as the system map states",
    "B2C-10": "redirect to the exact registered redirect_uri; verify tokens with A1's JWKS",
    "B2C-11": "map A5's callback to A3's attribution of the CTA's page and arm",
}


@dataclass(frozen=True)
class Finding:
    """One fix's check over the run: how many cases it judged and what it found broken."""

    rule_id: str
    cases: int
    violations: tuple[str, ...]
    untested: tuple[str, ...] = ()

    @property
    def fix(self) -> str:
        return FIXES[self.rule_id]


def session_cookies(journey: Journey) -> list[Mapping[str, Any]]:
    """The cookies A1's sign-up answer set (the session), by name and attributes."""
    for step in journey.auth:
        if step.method == "POST" and step.path == A1_LOGIN_PATH:
            return [c for c in step.cookies if _sets(c)]
    return []


def _sets(cookie: Mapping[str, Any]) -> bool:
    max_age = str((cookie.get("attributes") or {}).get("max-age") or "")
    return not max_age.strip().startswith(("0", "-"))


def _signed_up(journeys: Sequence[Journey]) -> list[Journey]:
    return [j for j in journeys if (s := j.step("b2c.signup")) is not None and s.ok]


def headers_enforced(run: FunnelRun) -> Finding:
    """B2C-07: every funnel mutation route refused a request without the §4 headers (428)."""
    violations = [
        f"{p['app']} {p['route']}: answered {p['status']} without {p['without']} (expected 428)"
        for p in run.header_probes
        if p.get("status") != 428
    ]
    return Finding("B2C-07", len(run.header_probes), tuple(violations))


def cookie_attributes(journeys: Sequence[Journey]) -> Finding:
    """B2C-08: A1's session cookie carries ``SameSite=None; Secure; HttpOnly``."""
    violations: list[str] = []
    judged = 0
    for journey in _signed_up(journeys):
        cookies = session_cookies(journey)
        if not cookies:
            violations.append(f"journey {journey.index}: A1's sign-up answer set no cookie")
            continue
        judged += 1
        for cookie in cookies:
            attrs = cookie["attributes"]
            missing = [n for n in ("secure", "httponly") if n not in attrs]
            if str(attrs.get("samesite") or "").lower() != "none":
                missing.append(f"samesite=None (got {attrs.get('samesite')})")
            if missing:
                violations.append(
                    f"journey {journey.index}: {cookie['name']}: no {', '.join(missing)}"
                )
    return Finding("B2C-08", judged, tuple(dict.fromkeys(violations)))


def cookie_lifetime_and_domain(journeys: Sequence[Journey], login: BrowserLogin | None) -> Finding:
    """B2C-09: the session cookie's Max-Age is the map's session TTL and its Domain the
    map's cookie domain (absent for a host-only cookie)."""
    if login is None:
        return Finding("B2C-09", 0, (), ("the system map has no identity.browser_login",))
    violations: list[str] = []
    judged = 0
    for journey in _signed_up(journeys):
        for cookie in session_cookies(journey):
            judged += 1
            attrs = cookie["attributes"]
            max_age = attrs.get("max-age")
            if max_age != str(login.session_ttl_s):
                violations.append(
                    f"{cookie['name']}: Max-Age={max_age} (the map states {login.session_ttl_s})"
                )
            domain = attrs.get("domain")
            if (domain or None) != login.cookie_domain:
                violations.append(
                    f"{cookie['name']}: Domain={domain} (the map states {login.cookie_domain})"
                )
    return Finding("B2C-09", judged, tuple(dict.fromkeys(violations)))


def redirect_and_jwks(journeys: Sequence[Journey], login: BrowserLogin | None) -> Finding:
    """B2C-10: A1 sends the browser to the exact registered ``redirect_uri``, and A5's
    callback, which verifies A1's token against A1's JWKS, gets the student to checkout."""
    if login is None:
        return Finding("B2C-10", 0, (), ("the system map has no identity.browser_login",))
    violations: list[str] = []
    judged = 0
    for journey in journeys:
        post = _a1_login_answer(journey.auth)
        if post is None:
            continue
        judged += 1
        if post.location != login.redirect_uri:
            where = "nowhere" if post.location is None else _path_of(post.location)
            violations.append(
                f"journey {journey.index}: A1 redirected to {where}, not the redirect_uri"
            )
            continue
        activation = journey.step("b2c.activation")
        if activation is not None and not activation.ok:
            violations.append(f"journey {journey.index}: A5's callback failed: {activation.detail}")
    return Finding("B2C-10", judged, tuple(violations))


def attribution(journeys: Sequence[Journey]) -> Finding:
    """B2C-11: each activated journey's conversion is attributed (A8's
    ``conversion_attributed``) to the page and arm of the CTA it clicked."""
    violations: list[str] = []
    judged = 0
    for journey in journeys:
        activation = journey.step("b2c.activation")
        if activation is None or not activation.ok:
            continue
        judged += 1
        step = journey.step("b2c.attribution")
        if step is None or not step.ok:
            detail = "no conversion_attributed" if step is None else step.detail
            violations.append(f"journey {journey.index}: {detail}")
    return Finding("B2C-11", judged, tuple(violations))


def findings(run: FunnelRun, login: BrowserLogin | None) -> list[Finding]:
    """Every fix's check over the run's first attempts (retries are diagnostics only)."""
    journeys = run.first_attempts
    return [
        headers_enforced(run),
        cookie_attributes(journeys),
        cookie_lifetime_and_domain(journeys, login),
        redirect_and_jwks(journeys, login),
        attribution(journeys),
    ]


def _a1_login_answer(auth: Sequence[AuthStep]) -> AuthStep | None:
    return next((s for s in auth if s.method == "POST" and s.path == A1_LOGIN_PATH), None)


def _path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}"
