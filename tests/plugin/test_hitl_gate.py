"""hitl(gate=...) checks run only under a valid logged approval; an untrusted log stops the run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from secondconf.core.clock import ManualClock, SystemClock
from secondconf.hitl.log import ApprovalLog, append_approval, record_escalation

LOG = "tests/perf/reports/hitl_approvals.log"

RESTRICTED = """
import pytest

@pytest.mark.second_confirmation
@pytest.mark.hitl(gate="inject_503")
def test_inject_503():
    pass
"""


def approve(
    pytester: pytest.Pytester,
    *,
    gate: str = "inject_503",
    env: str = "embedded",
    expires_in: timedelta = timedelta(hours=1),
    clock: object = None,
) -> Path:
    log = pytester.path / LOG
    append_approval(
        log,
        who="qa-lead",
        gate=gate,
        env=env,
        reason="drill",
        clock=clock or SystemClock(),
        expires_at=datetime.now(UTC) + expires_in,
    )
    return log


def test_without_approval_the_check_is_skipped_naming_gate_and_log(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(RESTRICTED)
    result = pytester.runpytest("-p", "no:xdist", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        [f"SKIPPED*HITL gate 'inject_503' not approved for env 'embedded' (approval log: *{LOG})"]
    )
    assert result.ret == pytest.ExitCode.OK  # a deliberate skip does not fail the gate


def test_with_a_valid_approval_the_check_runs_and_its_use_is_logged(
    pytester: pytest.Pytester, xdist_args: tuple[str, ...]
) -> None:
    log = approve(pytester)
    pytester.makepyfile(RESTRICTED)
    result = pytester.runpytest(*xdist_args)
    result.assert_outcomes(passed=1)
    uses = ApprovalLog.load(log).uses
    assert [(u.gate, u.test_id) for u in uses] == [
        (
            "inject_503",
            "test_with_a_valid_approval_the_check_runs_and_its_use_is_logged.py::test_inject_503",
        )
    ]


def test_an_expired_approval_does_not_count(pytester: pytest.Pytester) -> None:
    past = ManualClock(datetime.now(UTC) - timedelta(hours=3))
    append_approval(
        pytester.path / LOG,
        who="qa-lead",
        gate="inject_503",
        env="embedded",
        reason="old",
        expires_at=datetime.now(UTC) - timedelta(hours=1),
        clock=past,
    )
    pytester.makepyfile(RESTRICTED)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(skipped=1)


def test_an_approval_for_another_env_or_gate_does_not_count(pytester: pytest.Pytester) -> None:
    approve(pytester, env="staging")
    approve(pytester, gate="prod_write")
    pytester.makepyfile(RESTRICTED)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(skipped=1)


def test_a_tampered_log_is_a_usage_error_and_nothing_runs(pytester: pytest.Pytester) -> None:
    log = approve(pytester)
    log.write_text(log.read_text().replace("drill", "DRILL"))
    before = log.read_bytes()
    pytester.makepyfile(RESTRICTED)
    result = pytester.runpytest("-p", "no:xdist")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: HITL approvals log *{LOG}: line 1: *; restricted checks never run on it"]
    )
    assert "Traceback" not in result.stderr.str()
    assert log.read_bytes() == before


def test_the_hitl_log_option_points_at_another_log(pytester: pytest.Pytester) -> None:
    approve(pytester)
    (pytester.path / LOG).rename(pytester.path / "elsewhere.log")
    pytester.makepyfile(RESTRICTED)
    pytester.runpytest("-p", "no:xdist", "--hitl-log", "elsewhere.log").assert_outcomes(passed=1)


def test_workers_decide_on_the_controllers_snapshot(pytester: pytest.Pytester) -> None:
    """Approvals added after the controller read the log do not reach the workers."""
    pytester.makeconftest(
        f"""
        from datetime import UTC, datetime, timedelta
        from secondconf.hitl.log import append_approval
        from secondconf.core.clock import SystemClock

        def pytest_configure(config):
            if hasattr(config, "workerinput"):  # a worker: too late, the snapshot is taken
                append_approval("{LOG}", who="sneaky", gate="inject_503", env="embedded",
                                reason="late", clock=SystemClock(),
                                expires_at=datetime.now(UTC) + timedelta(hours=1))
        """
    )
    pytester.makepyfile(RESTRICTED)
    pytester.runpytest("-n", "2").assert_outcomes(skipped=1)


def test_escalations_in_the_log_are_shown_in_the_gate_summary(pytester: pytest.Pytester) -> None:
    record_escalation(
        pytester.path / LOG,
        kind="stripe_live_failure",
        detail="card_declined x3",
        clock=SystemClock(),
    )
    pytester.makepyfile("import pytest\n\n@pytest.mark.liveness\ndef test_check():\n    pass\n")
    result = pytester.runpytest("-p", "no:xdist")
    result.stdout.fnmatch_lines(["ESCALATION stripe_live_failure (*Z): card_declined x3"])
