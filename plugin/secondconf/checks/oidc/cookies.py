"""A1's session cookie, read from the raw ``Set-Cookie`` list of a real login (CK-29 … CK-31).

The harness logs in as a synthetic identity through the authorization-code + PKCE flow
(:mod:`secondconf.target.login`) and judges the ``Set-Cookie`` headers of the login
answer one by one. A cookie jar would merge, normalise or drop attributes, so the raw
header list is what is judged.

- CK-29 attributes: exactly one session cookie, with ``Secure``, ``HttpOnly``,
  ``SameSite=None`` and ``Path=/``.
- CK-30 lifetime: ``Max-Age`` equals the session TTL and is at most 400 days; ``Expires``,
  when sent, is ``Date + Max-Age`` within a few seconds.
- CK-31 domain: ``Domain`` equals the configured cookie domain, or is absent when none is
  configured (a host-only cookie).

The cookie's value is a credential: it is never parsed out, stored or reported.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Final

import httpx

from secondconf.checks.oidc.provider import missing_browser_login
from secondconf.contract.catalog import rule_by_id
from secondconf.core.clock import Clock
from secondconf.core.secret import Secret
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Outcome, Verdict
from secondconf.target.control import ControlError, TargetControl
from secondconf.target.login import LoginObservation, SetCookie, log_in
from secondconf.target.map import BrowserLogin, SystemMap

CK_ATTRIBUTES: Final = rule_by_id("CK-29")
CK_LIFETIME: Final = rule_by_id("CK-30")
CK_DOMAIN: Final = rule_by_id("CK-31")
CK_DRILL: Final = rule_by_id("CK-29-DRILL")
COOKIE_RULES: Final = (CK_ATTRIBUTES, CK_LIFETIME, CK_DOMAIN)

MAX_COOKIE_AGE_S: Final = 400 * 24 * 3600  # 34,560,000 s: browsers cap cookie lifetime here
EXPIRES_SKEW_S: Final = 3.0
DRILL_RULE: Final = "cookie_attributes"


def session_cookies(observation: LoginObservation, login: BrowserLogin) -> list[SetCookie]:
    """The cookies the login set as a session: the named one, or every one it did not clear."""
    if login.cookie_name is not None:
        return [c for c in observation.cookies if c.name == login.cookie_name]
    return [c for c in observation.cookies if not c.clears]


def _http_date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parsedate_to_datetime(text.replace("-", " "))
    except (TypeError, ValueError):
        return None


def _attributes_problems(cookie: SetCookie) -> list[str]:
    attrs = cookie.attributes
    problems = [
        f"{cookie.name}: no {name}" for name in ("Secure", "HttpOnly") if name.lower() not in attrs
    ]
    same_site = attrs.get("samesite")
    if same_site is None:
        problems.append(f"{cookie.name}: no SameSite (expected SameSite=None)")
    elif same_site.lower() != "none":
        problems.append(f"{cookie.name}: SameSite={same_site} (expected SameSite=None)")
    if attrs.get("path") != "/":
        problems.append(f"{cookie.name}: Path={attrs.get('path')} (expected /)")
    return problems


def _lifetime_problems(cookie: SetCookie, login: BrowserLogin, date: datetime | None) -> list[str]:
    raw = cookie.attributes.get("max-age")
    try:
        max_age = int(raw) if raw is not None else None
    except ValueError:
        return [f"{cookie.name}: Max-Age={raw!r} is not an integer"]
    if max_age is None:
        return [f"{cookie.name}: no Max-Age (expected the session TTL {login.session_ttl_s})"]
    problems: list[str] = []
    if max_age != login.session_ttl_s:
        problems.append(f"{cookie.name}: Max-Age={max_age}, session TTL is {login.session_ttl_s}")
    if max_age > MAX_COOKIE_AGE_S:
        problems.append(f"{cookie.name}: Max-Age={max_age} exceeds 400 days ({MAX_COOKIE_AGE_S})")
    if "expires" in cookie.attributes:
        expires = _http_date(cookie.attributes["expires"])
        if expires is None:
            problems.append(f"{cookie.name}: Expires is not an HTTP date")
        elif date is not None:
            skew = (expires - date).total_seconds() - max_age
            if abs(skew) > EXPIRES_SKEW_S:
                problems.append(
                    f"{cookie.name}: Expires is Date + {max_age + skew:.0f} s, "
                    f"Max-Age says {max_age} s"
                )
    return problems


def _domain_problems(cookie: SetCookie, login: BrowserLogin) -> list[str]:
    domain = cookie.attributes.get("domain")
    if login.cookie_domain is None:
        return [] if domain is None else [f"{cookie.name}: Domain={domain}, expected none"]
    expected = login.cookie_domain.lstrip(".").lower()
    if domain is None or domain.lstrip(".").lower() != expected:
        return [f"{cookie.name}: Domain={domain}, expected {login.cookie_domain}"]
    return []


def judge_session_cookie(observation: LoginObservation, login: BrowserLogin) -> list[Verdict]:
    """CK-29, CK-30 and CK-31 from one login answer."""
    details = {
        "requests": [record.to_dict() for record in observation.requests],
        "status": observation.status,
    }
    if observation.problem is not None:
        return [
            rule_verdict(rule, "A1", cases=0, violations=[], untested=[observation.problem],
                         details=details)
            for rule in COOKIE_RULES
        ]  # fmt: skip
    found = session_cookies(observation, login)
    details["cookies"] = [
        {"name": c.name, "attributes": dict(c.attributes)} for c in observation.cookies
    ]
    count_problem = (
        [] if len(found) == 1 else [f"{len(found)} session cookies set (expected exactly one)"]
    )
    date = _http_date(observation.date) or observation.received_at
    judged = {
        CK_ATTRIBUTES: count_problem + [p for c in found for p in _attributes_problems(c)],
        CK_LIFETIME: [p for c in found for p in _lifetime_problems(c, login, date)],
        CK_DOMAIN: [p for c in found for p in _domain_problems(c, login)],
    }
    verdicts: list[Verdict] = []
    for rule, problems in judged.items():
        if not found and rule is not CK_ATTRIBUTES:
            untested = ["the login set no session cookie to judge"]
            verdicts.append(
                rule_verdict(rule, "A1", cases=0, violations=[], untested=untested, details=details)
            )
            continue
        cases = max(len(found), 1)
        verdicts.append(rule_verdict(rule, "A1", cases=cases, violations=problems, details=details))
    return verdicts


def check_session_cookie(
    client: httpx.Client,
    system_map: SystemMap,
    password: Secret | None,
    *,
    clock: Clock | None = None,
) -> list[Verdict]:
    """CK-29 … CK-31 against the target; INCONCLUSIVE with the reason when it cannot log in."""
    login = system_map.browser_login
    if login is None:
        return [missing_browser_login(rule) for rule in COOKIE_RULES]
    if password is None:
        problem = f"environment variable {login.password_env} (the login password) is not set"
        return judge_session_cookie(LoginObservation(problem=problem), login)
    return judge_session_cookie(log_in(client, system_map, login, password, clock=clock), login)


# --- the cookie policy drill ----------------------------------------------------------------


def judge_drill(clean: Verdict, faulted: Verdict, restored: Verdict) -> Verdict:
    """The drill PASSes when CK-29 passes, FAILs with the rule off, and passes once restored."""
    violations: list[str] = []
    stages = (
        (clean, Outcome.PASS, "before turning off"),
        (faulted, Outcome.FAIL, "with"),
        (restored, Outcome.PASS, "after restoring"),
    )
    for verdict, outcome, when in stages:
        if verdict.outcome is not outcome:
            seen = "; ".join(
                [*verdict.details.get("violations", ()), *verdict.details.get("untested", ())]
            )
            violations.append(
                f"CK-29 was {verdict.outcome.value}, expected {outcome.value}, {when} "
                f"'{DRILL_RULE}'" + (f" ({seen})" if seen else "")
            )
    return rule_verdict(
        CK_DRILL,
        "A1",
        cases=3,
        violations=violations,
        details={
            "disabled_rule": DRILL_RULE,
            "caught": list(faulted.details.get("violations", ())),
        },
    )


def drill_cookie_policy(
    client: httpx.Client,
    system_map: SystemMap,
    password: Secret | None,
    controls: TargetControl | None,
) -> Verdict:
    """Turn the reference's ``cookie_attributes`` rule off on A1 and see CK-29 catch it.

    ``controls`` makes the change and its rollback: the ``fault_control`` fixture's, which
    logs both to the HITL log first. Without it the drill is INCONCLUSIVE, saying why.
    """
    if controls is None:
        return rule_verdict(
            CK_DRILL, "A1", cases=0, violations=[],
            untested=[
                "no fault control (the target offers none, or staging has no inject_503 "
                "approval)"
            ],
        )  # fmt: skip
    if system_map.browser_login is None:
        return missing_browser_login(CK_DRILL)

    def attributes() -> Verdict:
        return check_session_cookie(client, system_map, password)[0]

    app_id = system_map.identity_app_id
    try:
        clean = attributes()
        with controls.faults((app_id,), {"disabled_rules": [DRILL_RULE]}):
            faulted = attributes()
        restored = attributes()
    except ControlError as error:
        return rule_verdict(CK_DRILL, "A1", cases=0, violations=[], untested=[str(error)])
    return judge_drill(clean, faulted, restored)
