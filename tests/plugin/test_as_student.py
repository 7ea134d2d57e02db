"""``as_student``: the suites' one way to play a scenario as the synthetic student.

Against ``reachable_map`` (a named deployment on loopback whose apps answer /health), so
no reference target is started; A1's token is stood in for where the scenario must run.
"""

from __future__ import annotations

import pytest

SCENARIO = """
import pytest
from secondconf.target import identity
from secondconf.target.a8 import A8Client
from secondconf.target.identity import AccessToken

ASKED = []

async def fake_fetch_token(client, system_map, client_secret, subject):
    ASKED.append((subject, client_secret.name))
    return AccessToken("not-a-token", subject, None, {})

@pytest.fixture(scope="session", autouse=FAKE_A1)  # before as_student looks A1 up
def fake_a1():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(identity, "fetch_token", fake_fetch_token)
        yield

@pytest.fixture(scope="module")
def played(as_student, target):
    async def scenario(client, a8, token):
        assert isinstance(a8, A8Client)
        health = await client.get(target.system_map.apps["A1"].health_url)
        return health.status_code, token.subject

    return as_student("demo scenario", scenario)

def test_check(played):
    assert played == (200, "test_student_e2e_01")
    assert ASKED == [("test_student_e2e_01", "OIDC_CLIENT_SECRET")]
"""


def test_the_scenario_gets_a_client_a8_and_the_students_token(
    pytester: pytest.Pytester, reachable_map: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OIDC_CLIENT_SECRET", "not-a-real-secret")
    pytester.makepyfile(SCENARIO.replace("FAKE_A1", "True"))

    result = pytester.runpytest("-p", "no:xdist", f"--system-map={reachable_map}")

    result.assert_outcomes(passed=1)


def test_a_missing_secret_fails_in_one_line_naming_the_variable(
    pytester: pytest.Pytester, reachable_map: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OIDC_CLIENT_SECRET", raising=False)
    pytester.makepyfile(SCENARIO.replace("FAKE_A1", "True"))

    result = pytester.runpytest("-p", "no:xdist", f"--system-map={reachable_map}")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*environment variable OIDC_CLIENT_SECRET is not set"])
    assert "Traceback" not in result.stdout.str()


def test_no_token_from_a1_fails_in_one_line_after_the_label(
    pytester: pytest.Pytester, reachable_map: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OIDC_CLIENT_SECRET", "not-a-real-secret")
    pytester.makepyfile(SCENARIO.replace("FAKE_A1", "False"))  # A1 there answers /health only

    result = pytester.runpytest("-p", "no:xdist", f"--system-map={reachable_map}")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*demo scenario: *"])
    assert "Traceback" not in result.stdout.str()
    assert "not-a-real-secret" not in result.stdout.str()
