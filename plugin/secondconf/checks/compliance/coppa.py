"""COPPA-01 and COPPA-02: A1's sign-up asks for an age and refuses under 13 without
verifiable parental consent on record, storing nothing about the child (contract §14).

The check signs up on A1's form (OpenID Connect Prompt Create: the authorization request
with ``prompt=create``, the form with the map's username and password fields and
``age``), as fresh names of the synthetic namespace, one on each side of the boundary:

* COPPA-01: age 12, without consent (twice: once with the form's own
  ``parental_consent`` box ticked, an attestation that is no record) -> 403
  problem+json whose ``type`` ends ``coppa-age-gate``; A1 then holds nothing of the name
  (``GET /v1/synthetic-identities/{subject}`` 404) and no A8 event of the sign-up's trace
  is an ``identity_ok`` or names the child;
* COPPA-02: age 13 -> admitted: redirected to the client's redirect URI, and its
  ``identity_ok`` reaches A8 (which is also the barrier for the absence above: A1 sends
  its events in order). The account is deleted afterwards and the 404 proves it.

Each name is deleted before its sign-up too: a leftover account would turn the form
into a login, and the gate would never be asked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urljoin

import httpx

from secondconf.checks.compliance.actor import (
    EVENT_DEADLINE_S,
    Actor,
    delete_identity,
    event_arrives,
    identity_remains,
    refusal_problems,
    status,
)
from secondconf.contract.catalog import rule_by_id
from secondconf.contract.platform import SYNTHETIC_HEADERS
from secondconf.contract.traceids import TRACE_ID_HEADER, new_sampled_in_trace_id
from secondconf.core.secret import Secret
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Verdict
from secondconf.target.a8 import A8Client, TelemetryError
from secondconf.target.client import ProductionWriteRefused
from secondconf.target.credentials import destination_problem
from secondconf.target.identity import discovery_url
from secondconf.target.login import authorize_params, login_form
from secondconf.target.map import BrowserLogin

COPPA_01: Final = rule_by_id("COPPA-01")
COPPA_02: Final = rule_by_id("COPPA-02")
CHILD: Final = "test_student_e2e_03"  # attests 12
CHILD_TICKED: Final = "test_student_e2e_05"  # attests 12 and ticks parental_consent
TEEN: Final = "test_student_e2e_04"  # attests 13
AGE_FIELD: Final = "age"
REFUSAL_SUFFIX: Final = "coppa-age-gate"


@dataclass
class SignUp:
    """One sign-up on A1's form: its trace and A1's answer (``None``: not sent)."""

    username: str
    age: int
    trace_id: str
    consent_ticked: bool = False  # the form's own box: an attestation, no record
    answer: httpx.Response | None = None
    problem: str | None = None

    @property
    def label(self) -> str:
        ticked = " with the consent box ticked" if self.consent_ticked else ""
        return f"{self.username} attesting {self.age}{ticked}"


@dataclass
class CoppaRun:
    refused_cases: list[str] = field(default_factory=list)
    refused_violations: list[str] = field(default_factory=list)
    admitted_cases: list[str] = field(default_factory=list)
    admitted_violations: list[str] = field(default_factory=list)
    untested: list[str] = field(default_factory=list)


async def sign_up(
    actor: Actor,
    login: BrowserLogin,
    password: Secret,
    username: str,
    age: int,
    *,
    consent_ticked: bool = False,
) -> SignUp:
    """Fill A1's sign-up form as ``username`` attesting ``age`` (a fresh browser)."""
    attempt = SignUp(username, age, new_sampled_in_trace_id(0.1), consent_ticked)
    headers = {**SYNTHETIC_HEADERS, TRACE_ID_HEADER: attempt.trace_id}
    client = actor.client
    try:
        discovery = (await client.get(discovery_url(actor.system_map))).json()
        endpoint = discovery["authorization_endpoint"]
        params = authorize_params(login, login.redirect_uri) | {"prompt": "create"}
        page = await client.get(endpoint, params=params, headers=headers)
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
        attempt.problem = f"A1's sign-up page could not be reached ({type(error).__name__})"
        return attempt
    form = login_form(page.text, login) if page.status_code == 200 else None
    if form is None or AGE_FIELD not in form.inputs:
        attempt.problem = (
            f"A1's authorization endpoint with prompt=create answered {page.status_code} "
            f"without a sign-up form with {login.username_field!r}, "
            f"{login.password_field!r} and {AGE_FIELD!r}"
        )
        return attempt
    action = urljoin(str(page.url), form.action or "")
    refused = destination_problem(
        action, actor.system_map.identity_base_url, actor.system_map.env, "A1"
    )
    if refused is not None:
        attempt.problem = f"the sign-up form's action {refused}; {password.name} not sent"
        return attempt
    fields = dict(form.hidden) | {login.username_field: username, AGE_FIELD: str(age)}
    if consent_ticked:
        fields["parental_consent"] = "on"
    try:  # the password only in the call: a local holding it would show in a traceback
        attempt.answer = await client.post(
            action, data=fields | {login.password_field: password.reveal()}, headers=headers
        )
    except httpx.HTTPError as error:
        attempt.problem = f"the sign-up form post: no answer ({type(error).__name__})"
    except ProductionWriteRefused as refused:  # prod_observe: not one of the allowed names
        attempt.problem = f"the sign-up of {username} was not sent: {refused}"
    client.cookies.clear()  # the session is not reused by later requests
    return attempt


def _judge_admission(attempt: SignUp, login: BrowserLogin, run: CoppaRun) -> None:
    answer = attempt.answer
    location = answer.headers.get("location", "") if answer is not None else ""
    if answer is None or answer.status_code not in (302, 303):
        run.admitted_violations.append(
            f"sign-up of {attempt.username} attesting age {attempt.age}: answered "
            f"{status(answer)}, not a redirect to the client"
        )
    elif not location.startswith(login.redirect_uri):
        run.admitted_violations.append(
            f"sign-up of {attempt.username} attesting age {attempt.age}: redirected "
            "elsewhere than the client's redirect URI"
        )


async def _judge_events(
    a8: A8Client, refused: list[SignUp], admitted: SignUp, run: CoppaRun
) -> None:
    """The admitted sign-up's identity_ok arrives; the refused ones left no event naming
    the child and no identity_ok."""
    try:
        if not await event_arrives(a8, admitted.trace_id, "identity_ok"):
            run.admitted_violations.append(
                f"A8 held no identity_ok of the admitted sign-up within {EVENT_DEADLINE_S} s"
            )
            return
        for attempt in refused:
            for event in (await a8.raw_events(trace_id=attempt.trace_id)).items:
                if event.get("event") == "identity_ok":
                    run.refused_violations.append(
                        f"the refused sign-up of {attempt.username} caused an identity_ok"
                    )
                if attempt.username in json.dumps(event):
                    run.refused_violations.append(
                        f"A8 event {event.get('event')} of the refused sign-up names "
                        f"{attempt.username}"
                    )
    except TelemetryError as error:
        run.untested.append(f"A8 not read: {error}")


async def run_coppa(
    actor: Actor, a8: A8Client, login: BrowserLogin | None, password: Secret | None
) -> CoppaRun:
    """Both sides of the boundary, then the cleanup of what was admitted."""
    run = CoppaRun()
    if login is None or password is None:
        run.untested.append(
            "the system map names no identity.browser_login (or its password is not set): "
            "A1's sign-up form cannot be filled"
        )
        return run
    for name in (CHILD, CHILD_TICKED, TEEN):
        await delete_identity(actor, name)
    refused = [
        await sign_up(actor, login, password, CHILD, 12),
        await sign_up(actor, login, password, CHILD_TICKED, 12, consent_ticked=True),
    ]
    admitted = await sign_up(actor, login, password, TEEN, 13)
    for attempt in [*refused, admitted]:
        if attempt.problem is not None:
            run.untested.append(attempt.problem)
            return run
    for attempt in refused:
        run.refused_cases.append(attempt.label)
        run.refused_violations.extend(
            refusal_problems(f"sign-up of {attempt.label}", attempt.answer, 403, REFUSAL_SUFFIX)
        )
        if await identity_remains(actor, attempt.username):
            run.refused_violations.append(
                f"A1 holds records of {attempt.username} after refusing its sign-up"
            )
            await delete_identity(actor, attempt.username)  # the harness cleans up
    run.admitted_cases.append(f"{admitted.username} attesting {admitted.age}")
    _judge_admission(admitted, login, run)
    await _judge_events(a8, refused, admitted, run)
    if await delete_identity(actor, TEEN) and await identity_remains(actor, TEEN):
        run.untested.append(f"{TEEN} was not cleaned up: A1 still holds records of it")
    run.untested.extend(actor.problems)
    return run


def coppa_verdicts(run: CoppaRun) -> list[Verdict]:
    """COPPA-01 then COPPA-02."""
    return [
        rule_verdict(
            COPPA_01,
            "A1",
            cases=len(run.refused_cases),
            violations=run.refused_violations,
            untested=run.untested,
            details={"cases": run.refused_cases},
        ),
        rule_verdict(
            COPPA_02,
            "A1",
            cases=len(run.admitted_cases),
            violations=run.admitted_violations,
            untested=run.untested,
            details={"cases": run.admitted_cases},
        ),
    ]
