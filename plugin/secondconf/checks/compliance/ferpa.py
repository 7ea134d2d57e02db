"""FERPA-01: a student's records are read by that student only (contract §14).

Which reads return student records is the OpenAPI documents' to say: every GET operation
marked ``x-student-records: true`` (a harness extension, docs/contract.md), found as the
hardening run finds its routes (:mod:`secondconf.target.routes`). For each:

1. the owner (``test_student_e2e_01``) makes records: it is activated, and a route with a
   path parameter gets a resource made by its creator (the POST at the path before the
   parameter, with the document's example), as the owner;
2. the owner reads them (2xx: a student reads their own records);
3. another student of the owner's tenant (``test_student_e2e_02``, signed up on A1's form
   for the check and deleted after it), and a provider (``test_provider_e2e_01``, which
   is also the case of another tenant when its token's tenant differs) read them: a read
   by id answers 404, and no answer to them carries the owner's record ids or name.

"Their own tenant only" is taken strictly: within the tenant, only the student; no one
of another tenant. A document that marks no operation leaves the rule INCONCLUSIVE.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import httpx

from secondconf.checks.compliance.actor import (
    ACTIVATIONS,
    Actor,
    delete_identity,
    status,
)
from secondconf.checks.compliance.coppa import sign_up
from secondconf.contract.catalog import rule_by_id
from secondconf.contract.platform import SyntheticIdentity
from secondconf.core.secret import Secret
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Verdict
from secondconf.target.json_answer import json_body
from secondconf.target.map import OPENAPI_PATH, BrowserLogin
from secondconf.target.routes import (
    MutatingRoute,
    discover_routes,
    fill_template,
    prepared_body,
    resource_id,
    template_params,
    unique_token,
)

FERPA_01: Final = rule_by_id("FERPA-01")
MARK: Final = "x-student-records"
OWNER: Final = SyntheticIdentity.STUDENT.value
OTHER_STUDENT: Final = "test_student_e2e_02"
PROVIDER: Final = SyntheticIdentity.PROVIDER.value
OTHER_STUDENT_AGE: Final = 16


@dataclass(frozen=True)
class RecordRoute:
    """A GET that answers with student records, and the POST that makes one (if any)."""

    app_id: str
    template: str
    creator: MutatingRoute | None = None

    @property
    def label(self) -> str:
        return f"{self.app_id} GET {self.template}"


@dataclass
class FerpaRun:
    routes: list[str] = field(default_factory=list)
    cases: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    untested: list[str] = field(default_factory=list)


async def record_routes(actor: Actor, run: FerpaRun) -> list[RecordRoute]:
    """Every GET the apps' OpenAPI documents mark as returning student records."""
    found: list[RecordRoute] = []
    for app_id in sorted(actor.system_map.apps):
        try:
            document = (await actor.client.get(actor.url(app_id, OPENAPI_PATH))).json()
        except (httpx.HTTPError, ValueError):
            run.untested.append(f"{app_id}: no OpenAPI document")
            continue
        paths = document.get("paths") if isinstance(document, dict) else None
        if not isinstance(paths, Mapping):
            continue
        covered = {r.template: r for r in discover_routes(app_id, document).covered}
        for template, item in sorted(paths.items()):
            get = item.get("get") if isinstance(item, Mapping) else None
            if not isinstance(get, Mapping) or get.get(MARK) is not True:
                continue
            creator = None
            if template_params(template):
                prefix = template[: template.index("{")].rstrip("/")
                creator = covered.get(prefix)
                if creator is None or creator.method != "POST":
                    run.untested.append(f"{app_id} GET {template}: no POST {prefix} makes one")
                    continue
            found.append(RecordRoute(app_id, template, creator))
    return found


@dataclass(frozen=True)
class Made:
    """A record the owner made: its id, and the unique token its body's strings carry."""

    record_id: str
    token: str


async def _prepare(actor: Actor, routes: list[RecordRoute], run: FerpaRun) -> dict[str, Made]:
    """The owner's records: activation, and one resource per parameterised route (by the
    route's template)."""
    await actor.send("POST", ACTIVATIONS, OWNER, body={})
    made: dict[str, Made] = {}
    for route in routes:
        if route.creator is None:
            continue
        creator = route.creator
        token = unique_token()
        body = prepared_body(creator, token, {})
        answer = await actor.send("POST", (route.app_id, creator.template), OWNER, body=body)
        param = template_params(route.template)[-1]
        made_id = resource_id(json_body(answer), param)
        if answer is None or answer.status_code >= 300 or made_id is None:
            run.untested.append(f"{route.label}: no record made for the student ({status(answer)})")
            continue
        made[route.template] = Made(made_id, token)
    return made


def _readers(owner_tenant: str | None, provider_tenant: str | None) -> list[tuple[str, str]]:
    other_tenant = provider_tenant is not None and provider_tenant != owner_tenant
    provider = "a provider of another tenant" if other_tenant else "a provider"
    return [(OTHER_STUDENT, "another student of the tenant"), (PROVIDER, provider)]


def _carries(answer: httpx.Response | None, markers: list[str]) -> bool:
    return answer is not None and any(marker in answer.text for marker in markers)


def _markers(made: Mapping[str, Made], asked: str | None) -> list[str]:
    """What in an answer would be the owner's data: its name, the tokens of its records'
    bodies, and the ids of its records other than the one asked for (a 404 may name that)."""
    ids = [m.record_id for m in made.values() if m.record_id != asked]
    return [OWNER, *(m.token for m in made.values()), *ids]


async def _read(
    actor: Actor,
    route: RecordRoute,
    made: Mapping[str, Made],
    run: FerpaRun,
    readers: list[tuple[str, str]],
) -> None:
    params = template_params(route.template)
    if params and route.template not in made:
        return
    asked = made[route.template].record_id if params else None
    path = fill_template(route.template, {params[-1]: asked}) if asked else route.template
    markers = _markers(made, asked)
    own = await actor.send("GET", (route.app_id, path), OWNER)
    run.cases.append(f"{route.label} by the student")
    if own is None or not 200 <= own.status_code < 300:
        run.violations.append(f"{route.label}: the student's own read answered {status(own)}")
    for subject, who in readers:
        if await actor.token(subject) is None:
            continue  # named in actor.problems
        answer = await actor.send("GET", (route.app_id, path), subject)
        run.cases.append(f"{route.label} by {who}")
        if params and (answer is None or answer.status_code != 404):
            run.violations.append(f"{route.label}: {who} got {status(answer)}, not 404")
        elif _carries(answer, markers):
            run.violations.append(f"{route.label}: {who} got the student's records")


async def run_ferpa(actor: Actor, login: BrowserLogin | None, password: Secret | None) -> FerpaRun:
    """Every student-record read by the student and by the others."""
    run = FerpaRun()
    routes = await record_routes(actor, run)
    run.routes = [r.label for r in routes]
    if not routes:
        run.untested.append(f"no OpenAPI document marks a GET operation {MARK}: true")
        return run
    if login is not None and password is not None:
        await delete_identity(actor, OTHER_STUDENT)
        joined = await sign_up(actor, login, password, OTHER_STUDENT, OTHER_STUDENT_AGE)
        if joined.problem is not None:
            run.untested.append(f"{OTHER_STUDENT} could not sign up: {joined.problem}")
    made = await _prepare(actor, routes, run)
    owner, provider = await actor.token(OWNER), await actor.token(PROVIDER)
    readers = _readers(owner.tenant if owner else None, provider.tenant if provider else None)
    try:
        for route in routes:
            await _read(actor, route, made, run, readers)
    finally:
        if login is not None and password is not None:
            await delete_identity(actor, OTHER_STUDENT)
    run.untested.extend(actor.problems)
    return run


def ferpa_verdict(run: FerpaRun) -> Verdict:
    return rule_verdict(
        FERPA_01,
        "student records",
        cases=len(run.cases),
        violations=run.violations,
        untested=run.untested,
        details={"routes": run.routes, "cases": run.cases},
    )
