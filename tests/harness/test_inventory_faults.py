"""Phase 0 fails an app that is not ready, and passes the others, against the reference target.

Once by calling the check directly, once through pytest with ``--system-map`` of the same
ecosystem (the way a deployment is checked).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from secondconf.checks.inventory import check_inventory
from secondconf.contract.platform import APP_IDS
from secondconf.engine.verdict import Outcome, Reason

from tests.harness.conftest import HarnessTarget
from tests.plugin.conftest import BASE_INI

SUITE = Path(__file__).parents[2] / "suites" / "test_inventory.py"
NOT_READY = "A4"


@pytest.fixture
def a4_not_ready(harness_target: HarnessTarget) -> Iterator[HarnessTarget]:
    harness_target.set_faults(NOT_READY, {"ready_fails": True})
    try:
        yield harness_target
    finally:
        harness_target.set_faults(NOT_READY, {"ready_fails": False})


def test_a_not_ready_app_fails_and_the_others_pass(a4_not_ready: HarnessTarget) -> None:
    verdicts = {a: check_inventory(a4_not_ready.map, a, env="embedded") for a in APP_IDS}
    failed = verdicts.pop(NOT_READY)
    assert (failed.outcome, failed.reason) == (Outcome.FAIL, Reason.CHECK_FAILED)
    assert (failed.method, failed.n, failed.k) == ("exhaustive", 3, 1)
    assert failed.details["ready"]["state"] == "not_ready"
    assert failed.details["ready"]["status_code"] == 503
    assert failed.details["health"]["app_id"] == NOT_READY
    assert failed.details["problems"] == [
        f"ready: {a4_not_ready.map.apps[NOT_READY].ready_url} answered 503 not_ready"
    ]
    for app_id, verdict in verdicts.items():
        assert verdict.outcome is Outcome.PASS, (app_id, verdict.details["problems"])
        assert verdict.reason is Reason.CHECK_PASSED
        assert verdict.details["openapi"]["present"] is True
        assert verdict.details["openapi"]["routes"] > 0


def test_the_suite_fails_the_not_ready_app_through_pytest(
    pytester: pytest.Pytester, a4_not_ready: HarnessTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in a4_not_ready.secrets.items():
        monkeypatch.setenv(name, value)
    # As if alone even inside an xdist worker (see test_liveness_reports.run_suite).
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    pytester.makeini(BASE_INI)
    shutil.copy(SUITE, pytester.path / "test_inventory.py")
    # One argument: a separate path argument would move the inner run's rootdir (and its
    # reports) up to the common ancestor of the pytester folder and the ecosystem's.
    system_map = f"--system-map={a4_not_ready.eco.system_map_path}"
    result = pytester.runpytest(system_map, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=7, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*GATE FAILED: 1 of 8 check(s) not PASS*",
            f"*test_inventory[[]{NOT_READY}[]]*",
            f"*{NOT_READY} inventory [[]probe[]] FAIL (CHECK_FAILED)*",
        ]
    )
    assert f"rootdir: {pytester.path}" in result.stdout.str()
