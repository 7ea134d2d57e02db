"""The gate reads the rule catalogue: each check counted once (passed, awaiting approval,
not prod_safe, superseded), and a declared rule that produced no verdict is never a PASS."""

from __future__ import annotations

import json

import pytest

from tests.plugin.pytester_helpers import read_results

HEADER = """
import pytest
from secondconf.contract.catalog import rule_by_id
from secondconf.engine.rules import rule_verdict
from secondconf.pytest_plugin.deliberate import skip_covered_elsewhere

pytestmark = [pytest.mark.second_confirmation, pytest.mark.idempotency, pytest.mark.phase(3)]

def held(rule_id, subject="A2"):
    return rule_verdict(rule_by_id(rule_id), subject, cases=1, violations=[])
"""

SESSION = (
    HEADER
    + """
@pytest.mark.rules("IDEM-07")
def test_replay(record_verdict):
    record_verdict(held("IDEM-07"))

@pytest.mark.rules("IDEM-13")
def test_ttl(record_verdict):
    record_verdict(held("IDEM-13"))

@pytest.mark.rules("IDEM-13")
def test_ttl_real_time(request, record_verdict):
    skip_covered_elsewhere(request, "real-time variant: test_ttl runs")

@pytest.mark.rules("OIDC-37")
@pytest.mark.hitl(gate="secret_rotation")
def test_rotation(record_verdict):
    raise AssertionError("never runs without an approval")

@pytest.mark.rules("CK-29-DRILL")
@pytest.mark.hitl(gate="oidc_cookie_policy")
def test_drill(record_verdict):
    raise AssertionError("never runs without an approval")

@pytest.mark.prod_safe
@pytest.mark.rules("OIDC-35")
def test_jwks(record_verdict):
    record_verdict(held("OIDC-35", "A1"))
"""
)


def test_the_summary_counts_passed_awaiting_approval_and_superseded_checks(
    pytester: pytest.Pytester, xdist_args: tuple[str, ...]
) -> None:
    pytester.makepyfile(SESSION)
    result = pytester.runpytest(*xdist_args)
    result.assert_outcomes(passed=3, skipped=3)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "GATE PASSED: 3 passed, 2 awaiting approval (oidc_cookie_policy, secret_rotation), "
            "1 superseded (IDEM-13 real-time variant: test_ttl runs)"
        ]
    )


def test_the_summary_counts_checks_kept_from_prod_observe(
    pytester: pytest.Pytester, reachable_map: str
) -> None:
    system_map = pytester.path / reachable_map
    system_map.write_text(json.dumps({**json.loads(system_map.read_text()), "env": "prod_observe"}))
    pytester.makepyfile(SESSION)
    result = pytester.runpytest("-p", "no:xdist", f"--system-map={reachable_map}")
    result.assert_outcomes(passed=1, skipped=5)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["GATE PASSED: 1 passed, 5 not prod_safe (never run against prod_observe)"]
    )


def test_a_declared_rule_without_a_verdict_fails_the_gate_and_is_named(
    pytester: pytest.Pytester, xdist_args: tuple[str, ...]
) -> None:
    pytester.makepyfile(
        HEADER
        + """
@pytest.mark.rules("IDEM-07", "IDEM-09")
def test_replays(record_verdict):
    record_verdict(held("IDEM-07"))

@pytest.mark.rules("IDEM-10")
def test_mismatch(record_verdict):
    pass
"""
    )
    result = pytester.runpytest(*xdist_args)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(failed=2)  # pytest's own line agrees with the gate
    result.stdout.fnmatch_lines(["*no verdict for declared rule IDEM-10*"])
    result.stdout.fnmatch_lines(["GATE FAILED: 2 of 2 check(s) not PASS; 0 passed"])
    for name, rule_id in (("test_replays", "IDEM-09"), ("test_mismatch", "IDEM-10")):
        result.stdout.fnmatch_lines(
            [f"  *::{name}", f"      no verdict for declared rule(s): {rule_id}"]
        )
    result.stdout.fnmatch_lines(["  declared rule(s) without a verdict: IDEM-09, IDEM-10"])
    checks = {c["nodeid"].split("::")[1]: c for c in read_results(pytester)["checks"]}
    assert checks["test_replays"]["gate_passed"] is False
    assert checks["test_replays"]["missing_rules"] == ["IDEM-09"]
    assert checks["test_replays"]["marks"]["rules"] == ["IDEM-07", "IDEM-09"]


def test_a_declared_rule_whose_check_failed_is_named_with_the_failure(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        HEADER
        + """
@pytest.mark.rules("TEL-01")
def test_schema(record_verdict):
    raise RuntimeError("A8 unreachable")
"""
    )
    result = pytester.runpytest("-p", "no:xdist")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "GATE FAILED: 1 of 1 check(s) not PASS; 0 passed",
            "      failed: RuntimeError: A8 unreachable",
            "      no verdict for declared rule(s): TEL-01",
            "  declared rule(s) without a verdict: TEL-01",
        ]
    )


def test_a_rule_judged_by_another_check_is_not_listed_as_unjudged(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        HEADER
        + """
@pytest.mark.rules("IDEM-13")
def test_ttl(record_verdict):
    record_verdict(held("IDEM-13"))

@pytest.mark.rules("IDEM-13")
def test_ttl_again(record_verdict):
    pass
"""
    )
    result = pytester.runpytest("-p", "no:xdist")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["      no verdict for declared rule(s): IDEM-13"])
    assert "declared rule(s) without a verdict" not in result.stdout.str()
