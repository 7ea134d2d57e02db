"""DEP-01 in staging runs only under an inject_503 approval: without one it is skipped
naming the gate, counted as awaiting approval, and no fault is set or logged."""

from __future__ import annotations

from pathlib import Path

import pytest
from secondconf.hitl.keys import KEY_ENV, PREVIOUS_KEYS_ENV
from secondconf.hitl.log import ApprovalLog

SUITE = Path(__file__).parents[2] / "suites" / "test_a3_dependency.py"
LOG = "tests/perf/reports/hitl_approvals.log"

FAKE_TARGET = """
from types import SimpleNamespace

import pytest
from secondconf.target.control import TargetControl

SENT = []

class OfflineControl(TargetControl):
    def _post(self, app_id, path, body):
        SENT.append((app_id, path))
        return {}

    def _delete(self, app_id, path):
        SENT.append((app_id, path))

@pytest.fixture(scope="session")
def target():
    system_map = SimpleNamespace(env="staging", identity_app_id="A1", apps={})
    control = OfflineControl(system_map, "not-a-token")
    return SimpleNamespace(fault_controls=control, processes=None, system_map=system_map)

def pytest_sessionfinish():
    assert SENT == [], SENT
"""


@pytest.fixture(autouse=True)
def unkeyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(PREVIOUS_KEYS_ENV, raising=False)


def test_in_staging_without_approval_dep_01_is_skipped_naming_the_gate(
    pytester: pytest.Pytester, reachable_map: str
) -> None:
    pytester.makeconftest(FAKE_TARGET)
    pytester.makepyfile(test_a3_dependency=SUITE.read_text())

    result = pytester.runpytest("-p", "no:xdist", "-rs", "--system-map", reachable_map)

    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        [
            "GATE PASSED: 0 passed, 1 awaiting approval (inject_503)",
            "SKIPPED*HITL gate 'inject_503' not approved for env 'staging' (approval log: *)",
        ]
    )
    log = ApprovalLog.load(pytester.path / LOG)
    assert (log.actions, log.uses) == ((), ())
