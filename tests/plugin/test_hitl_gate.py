"""hitl(gate=...) checks run only under a valid logged approval no longer than the cap; an
untrusted log stops the run; the report header says what protects the log."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from secondconf.core.clock import ManualClock, SystemClock
from secondconf.hitl.keys import KEY_ENV, PREVIOUS_KEYS_ENV, key_id
from secondconf.hitl.log import (
    DEFAULT_MAX_APPROVAL,
    ApprovalLog,
    append_approval,
    record_escalation,
)
from secondconf.settings import HarnessSettings

LOG = "tests/perf/reports/hitl_approvals.log"
KEY = "a-test-key-of-32-characters-long"


@pytest.fixture(autouse=True)
def unkeyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(PREVIOUS_KEYS_ENV, raising=False)


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
        max_length=expires_in,
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


def test_escalations_of_earlier_runs_are_counted_in_the_gate_summary(
    pytester: pytest.Pytester,
) -> None:
    record_escalation(
        pytester.path / LOG,
        kind="stripe_live_failure",
        detail="card_declined x3",
        clock=SystemClock(),
    )
    pytester.makepyfile("import pytest\n\n@pytest.mark.liveness\ndef test_check():\n    pass\n")
    result = pytester.runpytest("-p", "no:xdist")
    result.stdout.fnmatch_lines(["HITL log: 1 escalation(s) of earlier runs (*)"])
    assert "PAGE" not in result.stdout.str()  # this run paged nothing


# --- the length cap ---------------------------------------------------------------------------


def test_an_approval_longer_than_the_cap_does_not_count_and_the_skip_says_why(
    pytester: pytest.Pytester,
) -> None:
    approve(pytester, expires_in=timedelta(days=10))
    pytester.makepyfile(RESTRICTED)

    result = pytester.runpytest("-p", "no:xdist", "-rs")

    result.assert_outcomes(skipped=1)
    why = "approval * lasts 10d, longer than the 7d --hitl-max-approval counts"
    result.stdout.fnmatch_lines([f"SKIPPED*not approved for env 'embedded'*; {why}"])
    assert ApprovalLog.load(pytester.path / LOG).uses == ()


def test_the_settings_default_cap_is_the_logs() -> None:
    """settings.py may not import the log (it is a layer below), so it repeats the value."""
    (field,) = [f for f in dataclasses.fields(HarnessSettings) if f.name == "hitl_max_approval_s"]
    assert field.default == DEFAULT_MAX_APPROVAL.total_seconds()


@pytest.mark.parametrize(
    "cap", [("--hitl-max-approval", "10d"), ("-o", "secondconf_hitl_max_approval=240h")]
)
def test_a_longer_cap_counts_a_longer_approval(
    pytester: pytest.Pytester, cap: tuple[str, str]
) -> None:
    approve(pytester, expires_in=timedelta(days=10))
    pytester.makepyfile(RESTRICTED)

    pytester.runpytest("-p", "no:xdist", *cap).assert_outcomes(passed=1)


def test_a_shorter_cap_refuses_a_default_length_approval(pytester: pytest.Pytester) -> None:
    approve(pytester, expires_in=timedelta(hours=3))
    pytester.makepyfile(RESTRICTED)

    pytester.runpytest("-p", "no:xdist", "--hitl-max-approval", "2h").assert_outcomes(skipped=1)


@pytest.mark.parametrize("value", ["0s", "soon", "400d"])
def test_a_bad_cap_is_one_usage_error(pytester: pytest.Pytester, value: str) -> None:
    pytester.makepyfile(RESTRICTED)

    result = pytester.runpytest("-p", "no:xdist", "--hitl-max-approval", value)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --hitl-max-approval: *'{value}' *"])
    assert "Traceback" not in result.stderr.str()


# --- keyed and unkeyed logs ------------------------------------------------------------------


def test_the_header_says_an_unkeyed_log_detects_accidents_not_tampering(
    pytester: pytest.Pytester,
) -> None:
    approve(pytester)
    pytester.makepyfile(RESTRICTED)

    result = pytester.runpytest("-p", "no:xdist")

    protection = "unkeyed: detects accidents, not tampering; set HITL_LOG_KEY for an HMAC chain"
    result.stdout.fnmatch_lines([f"secondconf: 1 HITL approval(s) in *{LOG} ({protection})"])


def test_with_the_key_the_header_names_the_key_id_and_the_gate_runs(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, xdist_args: tuple[str, ...]
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    log = approve(pytester)
    pytester.makepyfile(RESTRICTED)

    result = pytester.runpytest(*xdist_args)

    result.assert_outcomes(passed=1)
    assert KEY not in result.stdout.str()
    if xdist_args[0] != "-n" or xdist_args[1] == "0":  # xdist workers print no header
        result.stdout.fnmatch_lines(
            [f"*HITL approval(s) in *{LOG} (keyed: HMAC-SHA256, key id {key_id(KEY.encode())})"]
        )
    entries = ApprovalLog.load(log).entries  # the approval, its use, the run's record
    assert [e.get("key_id") for e in entries] == [key_id(KEY.encode())] * 3


def test_a_keyed_log_without_the_key_is_a_usage_error_saying_the_key_is_needed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    approve(pytester)
    monkeypatch.delenv(KEY_ENV)
    pytester.makepyfile(RESTRICTED)

    result = pytester.runpytest("-p", "no:xdist")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    problem = f"the log is keyed (key id *): set {KEY_ENV} to the key to read it"
    result.stderr.fnmatch_lines(
        [f"ERROR: HITL approvals log *{LOG}: line 1: {problem}; restricted checks never run on it"]
    )
    assert "Traceback" not in result.stderr.str()


def test_a_rehashed_edit_of_a_keyed_log_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    log = approve(pytester, env="staging")
    entry = json.loads(log.read_text())
    entry["env"] = "embedded"  # move the approval to another env, then fix the hash
    body = {k: v for k, v in entry.items() if k not in ("hash", "mac")}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    entry["hash"] = hashlib.sha256(canonical.encode()).hexdigest()
    log.write_text(json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n")
    pytester.makepyfile(RESTRICTED)

    result = pytester.runpytest("-p", "no:xdist")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: HITL approvals log *: line 1: MAC does not match*"])


def test_a_fifo_named_by_hitl_log_is_a_usage_error_not_a_hang(pytester: pytest.Pytester) -> None:
    os.mkfifo(pytester.path / "approvals.fifo")
    pytester.makepyfile(RESTRICTED)

    result = pytester.runpytest_subprocess(
        "-p", "no:xdist", "--hitl-log", "approvals.fifo", timeout=60
    )

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    problem = "cannot read it: not a regular file (a FIFO)"
    result.stderr.fnmatch_lines(
        [f"ERROR: HITL approvals log *approvals.fifo: {problem}; restricted checks never run on it"]
    )
