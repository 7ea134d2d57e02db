"""The compliance checks' sign-up on A1's form, against a fake A1: the form is read
generically (its action and hidden fields), the age goes in the form's own field, and
against prod_observe the production guard refuses the post before it is sent."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs

import httpx
from secondconf.checks.compliance.actor import Actor
from secondconf.checks.compliance.coppa import sign_up
from secondconf.core.secret import Secret
from secondconf.target.client import ProdObserveGuard, RequestPolicy
from secondconf.target.map import BrowserLogin

from tests.plugin.system_maps import system_map_at

A1 = "https://a1.test"
LOGIN = BrowserLogin("student-web", "https://a5.test/auth/callback", 3600)
PAGE = f"""<form id="signup" method="post" action="{A1}/oauth/authorize">
<input type="hidden" name="state" value="s1"><input type="hidden" name="prompt" value="create">
<input name="username"><input name="password" type="password"><input name="age" type="number">
<input name="parental_consent" type="checkbox"></form>"""


def _run(env: str) -> tuple[str | None, int | None, list[dict[str, list[str]]]]:
    posts: list[dict[str, list[str]]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={"authorization_endpoint": f"{A1}/oauth/authorize"})
        if request.method == "GET":
            assert request.url.params["prompt"] == "create"
            return httpx.Response(200, html=PAGE)
        posts.append(parse_qs(request.content.decode()))
        return httpx.Response(
            403,
            json={"type": "urn:x:coppa-age-gate", "title": "Forbidden", "status": 403},
            headers={"content-type": "application/problem+json"},
        )

    async def go() -> tuple[str | None, int | None]:
        transport = ProdObserveGuard(httpx.MockTransport(answer), RequestPolicy(env))
        async with httpx.AsyncClient(transport=transport) as client:
            actor = Actor(client, system_map_at({"A1": A1}, env=env), Secret("PW", "s3cret-value"))
            attempt = await sign_up(
                actor, LOGIN, Secret("PW", "s3cret-value"), "test_student_e2e_03", 12
            )
        status = attempt.answer.status_code if attempt.answer is not None else None
        return attempt.problem, status

    problem, status = asyncio.run(go())
    return problem, status, posts


def test_the_form_is_filled_with_the_attested_age() -> None:
    problem, status, posts = _run("staging")
    assert (problem, status) == (None, 403)
    assert posts == [
        {
            "state": ["s1"],
            "prompt": ["create"],
            "username": ["test_student_e2e_03"],
            "age": ["12"],
            "password": ["s3cret-value"],
        }
    ]


def test_prod_observe_refuses_the_sign_up_before_it_is_sent() -> None:
    problem, status, posts = _run("prod_observe")
    assert posts == []
    assert status is None
    assert problem is not None
    assert problem.startswith("the sign-up of test_student_e2e_03 was not sent: prod_observe")
    assert "s3cret-value" not in problem
