"""The release gate: every check PASS or the session fails, with figures; results written once."""

from __future__ import annotations

import json

import pytest

from tests.plugin.pytester_helpers import VERDICT_HELPERS, read_results

CHECKS = (
    VERDICT_HELPERS
    + """
@pytest.mark.second_confirmation
@pytest.mark.app("A1")
def test_a1(record_verdict):
    record_verdict(clean("A1"))

@pytest.mark.second_confirmation
@pytest.mark.app("A2")
def test_a2(record_verdict):
    record_verdict(unsure("A2"))

def test_not_a_check():
    pass
"""
)


def test_inconclusive_verdict_fails_the_check_and_names_its_figures(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(CHECKS)
    result = pytester.runpytest("-p", "no:xdist")
    result.assert_outcomes(passed=2, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*= second confirmation gate =*",
            "GATE FAILED: 1 of 2 check(s) not PASS; 1 passed",
            "  *::test_a2",
            "      A2 error_rate [[]probe] INCONCLUSIVE (N_BELOW_MIN): estimate=0 *n=100 k=0",
        ]
    )


def test_all_pass_gate_passes_and_writes_results(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        CHECKS.replace('record_verdict(unsure("A2"))', 'record_verdict(clean("A2"))')
    )
    result = pytester.runpytest("-p", "no:xdist")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["GATE PASSED: 2 passed"])
    data = read_results(pytester)
    assert data["gate_passed"] is True
    assert [c["nodeid"].split("::")[1] for c in data["checks"]] == ["test_a1", "test_a2"]
    assert data["checks"][0]["verdicts"][0]["upper"] < 0.01
    assert data["checks"][0]["marks"] == {
        "phase": None,
        "app": "A1",
        "hitl_gate": None,
        "tags": ["second_confirmation"],
        "rules": [],
    }


def test_a_check_that_skips_itself_does_not_pass_the_gate(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.second_confirmation
        def test_check():
            pytest.skip("target has no OpenAPI document")
        """
    )
    result = pytester.runpytest("-p", "no:xdist")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*not run (skipped: target has no OpenAPI document)"])


PROD_OBSERVE_STUBS = """
import pytest

pytestmark = [pytest.mark.second_confirmation]

@pytest.mark.phase(0)
@pytest.mark.prod_safe
def test_read_only():
    pass

@pytest.mark.phase(2)
@pytest.mark.load
def test_baseline_load():
    raise AssertionError("must not load production")

@pytest.mark.phase(3)
@pytest.mark.idempotency
def test_contract_fuzzing():
    raise AssertionError("must not fuzz production")

@pytest.mark.phase(3)
@pytest.mark.prod_safe
@pytest.mark.hitl(gate="prod_write")
def test_prod_write_drill():
    raise AssertionError("needs an approval for prod_observe")
"""


def skipped_checks(pytester: pytest.Pytester) -> dict[str, str]:
    return {
        c["nodeid"].split("::")[1]: c["skip_reason"].split(" (approval log")[0]
        for c in read_results(pytester)["checks"]
        if c["outcome"] == "skipped"
    }


def test_a_prod_observe_map_skips_without_env_what_env_prod_observe_skips(
    pytester: pytest.Pytester, reachable_map: str
) -> None:
    system_map = pytester.path / reachable_map
    system_map.write_text(json.dumps({**json.loads(system_map.read_text()), "env": "prod_observe"}))
    pytester.makepyfile(PROD_OBSERVE_STUBS)
    skipped: dict[tuple[str, ...], dict[str, str]] = {}
    for env_args in [("--env", "prod_observe"), ()]:
        result = pytester.runpytest("-p", "no:xdist", f"--system-map={reachable_map}", *env_args)
        result.assert_outcomes(passed=1, skipped=3)
        assert result.ret == pytest.ExitCode.OK
        skipped[env_args] = skipped_checks(pytester)
    never = "not marked prod_safe: never run against prod_observe"
    assert skipped[()] == skipped[("--env", "prod_observe")]
    assert skipped[()] == {
        "test_baseline_load": never,
        "test_contract_fuzzing": never,
        "test_prod_write_drill": "HITL gate 'prod_write' not approved for env 'prod_observe'",
    }


def test_no_checks_means_no_files_and_no_gate(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = pytester.runpytest("-p", "no:xdist")
    assert result.ret == pytest.ExitCode.OK
    assert "second confirmation gate" not in result.stdout.str()
    assert not (pytester.path / "tests").exists()


def test_results_are_the_same_with_and_without_xdist(
    pytester: pytest.Pytester, xdist_args: tuple[str, ...]
) -> None:
    pytester.makepyfile(CHECKS)
    result = pytester.runpytest(*xdist_args)
    result.assert_outcomes(passed=2, failed=1)
    checks = {c["nodeid"]: c for c in read_results(pytester)["checks"]}
    assert sorted(checks) == [
        "test_results_are_the_same_with_and_without_xdist.py::test_a1",
        "test_results_are_the_same_with_and_without_xdist.py::test_a2",
    ]
    a2 = checks["test_results_are_the_same_with_and_without_xdist.py::test_a2"]
    assert (a2["outcome"], a2["gate_passed"]) == ("failed", False)
    assert a2["verdicts"][0]["reason"] == "N_BELOW_MIN"
    assert a2["verdicts"][0]["n"] == 100


def test_a_crashed_worker_still_leaves_the_reports_and_fails_the_gate(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        VERDICT_HELPERS
        + """
import os

@pytest.mark.second_confirmation
def test_ok(record_verdict):
    record_verdict(clean())

@pytest.mark.second_confirmation
def test_crash():
    os._exit(1)
"""
    )
    result = pytester.runpytest("-n", "2", "--max-worker-restart", "1")
    assert result.ret != pytest.ExitCode.OK
    data = read_results(pytester)
    outcomes = {c["nodeid"].split("::")[1]: c["outcome"] for c in data["checks"]}
    assert outcomes == {"test_ok": "passed", "test_crash": "crashed"}
    assert len(data["lost_workers"]) == 1  # whichever worker ran test_crash
    assert data["gate_passed"] is False
    result.stdout.fnmatch_lines(
        ["GATE FAILED: *", "*crashed*", "  worker gw? was lost before handing over its output"]
    )
