"""DEP-01 in staging runs only under an inject_503 approval: without one it is skipped
naming the gate, counted as awaiting approval, and no fault is set or logged."""

from __future__ import annotations

from pathlib import Path

import pytest
from secondconf.hitl.log import ApprovalLog

# The drills' offline staging target (it records any fault request) and unkeyed HITL log.
from tests.plugin.test_drill_gate import FAKE_TARGET, LOG, unkeyed  # noqa: F401

SUITE = Path(__file__).parents[2] / "suites" / "test_a3_dependency.py"


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
