"""``secondconf-hitl``: approve (capped), list, verify (keyed or not), and one-line errors
with exit code 2."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from secondconf.cli.hitl import main, parse_duration, parse_instant
from secondconf.core.clock import ManualClock
from secondconf.hitl.keys import KEY_ENV, PREVIOUS_KEYS_ENV, key_id
from secondconf.hitl.log import ApprovalLog, record_action, record_escalation, record_use

START = datetime(2026, 1, 1, tzinfo=UTC)
SCRIPT = Path(sys.executable).parent / "secondconf-hitl"
UNKEYED_NOTE = "unkeyed: detects accidents, not tampering; set HITL_LOG_KEY for an HMAC chain"
KEY = "a-test-key-of-32-characters-long"


@pytest.fixture(autouse=True)
def unkeyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(PREVIOUS_KEYS_ENV, raising=False)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "reports" / "hitl_approvals.log"


def approve_args(
    log: Path, *extra: str, gate: str = "prod_write", env: str = "staging"
) -> list[str]:
    return [
        "approve",
        "--who",
        "alice",
        "--gate",
        gate,
        "--env",
        env,
        "--reason",
        "release 1.2 smoke",
        "--log",
        str(log),
        *extra,
    ]


def assert_one_error_line(err: str, out: str = "") -> str:
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("secondconf-hitl: error: ")
    return lines[0]


# --- approve -----------------------------------------------------------------------------


def test_approve_prints_one_line_and_logs_it(
    log: Path, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(approve_args(log, "--expires-in", "2h"), clock=clock) == 0

    out, err = capsys.readouterr()
    (approval,) = ApprovalLog.load(log).approvals
    assert err == ""
    assert out == (
        f"approved {approval.id[:12]}: gate prod_write, env staging, "
        f"expires 2026-01-01T02:00:00Z (log {log})\n"
    )
    assert (approval.who, approval.reason) == ("alice", "release 1.2 smoke")
    assert approval.expires_at == START + timedelta(hours=2)


def test_approve_with_expires_at(
    log: Path, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    args = approve_args(log, "--expires-at", "2026-01-01T03:30:00+01:00")
    assert main(args, clock=clock) == 0

    assert "expires 2026-01-01T02:30:00Z" in capsys.readouterr().out
    assert ApprovalLog.load(log).approvals[0].expires_at == START + timedelta(hours=2.5)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("30m", 1800),
        ("2h", 7200),
        ("1d", 86400),
        ("1h30m", 5400),
        (" 5m ", 300),
        ("90", 90),  # one syntax for every option: a bare number is seconds
        ("1.5h", 5400),
    ],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "text", ["", "2x", "h", "0m", "-1h", "1m2h", "2 h", "nan", "inf", "1e9", "3000000d"]
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_parse_instant_needs_a_timezone() -> None:
    assert parse_instant("2026-01-02T15:00:00Z") == datetime(2026, 1, 2, 15, tzinfo=UTC)
    with pytest.raises(ValueError, match="needs a timezone"):
        parse_instant("2026-01-02T15:00:00")
    with pytest.raises(ValueError, match="bad time"):
        parse_instant("tomorrow")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gate", "root", "--expires-in", "1h"], "argument --gate: invalid choice: 'root'"),
        (["--env", "dev", "--expires-in", "1h"], "argument --env: invalid choice: 'dev'"),
        (["--expires-in", "2 weeks"], "'2 weeks' is not a duration"),
        (["--expires-in", "0s"], "must be longer than zero"),
        (["--expires-at", "2026-01-02T00:00:00"], "needs a timezone"),
        (["--expires-at", "2025-12-31T00:00:00Z"], "is not after now"),
        (["--expires-in", "1h", "--expires-at", "2026-01-02T00:00:00Z"], "not allowed with"),
        ([], "one of the arguments --expires-in --expires-at is required"),
        (["--expires-in", "1h", "--who", ""], "who must be a non-empty string"),
        (["--expires-in", "1h", "--reason", "a\nb"], "reason must be one line"),
        (["--expires-in", "3000000d"], "duration '3000000d' is longer than 366 days"),
        (["--expires-at", "9999-12-31T23:59:59-05:00"], "is out of range"),
        (["--expires-at", "0001-01-01T00:00:00+05:00"], "is out of range"),
        (["--expires-in", "8d"], "would last 8d, longer than the cap of 7d (--max-approval)"),
        (["--expires-in", "3h", "--max-approval", "2h"], "longer than the cap of 2h"),
        (["--expires-in", "1h", "--max-approval", "0s"], "must be longer than zero"),
        (["--expires-in", "1h", "--max-approval", "soon"], "'soon' is not a duration"),
    ],
)
def test_approve_bad_input_is_one_line_and_exit_2(
    log: Path,
    clock: ManualClock,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    # Later options win in argparse, so these override the defaults in approve_args.
    assert main([*approve_args(log), *args], clock=clock) == 2

    out, err = capsys.readouterr()
    assert message in assert_one_error_line(err, out)
    assert not log.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["revoke"], "invalid choice: 'revoke'"),
        (["list", "--bogus"], "unrecognized arguments: --bogus"),
        (["approve", "--gate", "prod_write"], "the following arguments are required: --who"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert message in assert_one_error_line(err, out)


def test_a_longer_cap_allows_a_longer_approval_and_says_the_gate_needs_it_too(
    log: Path, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    args = approve_args(log, "--expires-in", "10d", "--max-approval", "14d")
    assert main(args, clock=clock) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[1] == (
        "note: it lasts 10d; the gate counts it only with --hitl-max-approval 10d or more"
    )
    assert ApprovalLog.load(log).approvals[0].expires_at == START + timedelta(days=10)


def test_a_fifo_as_the_log_is_one_error_line(
    log: Path, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    log.parent.mkdir(parents=True)
    os.mkfifo(log)

    assert main(["list", "--log", str(log)], clock=clock) == 2  # would block before the check

    out, err = capsys.readouterr()
    assert "cannot read it: not a regular file (a FIFO)" in assert_one_error_line(err, out)


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["approve", "--help"]) == 0
    assert "--expires-in DURATION" in capsys.readouterr().out


# --- list ----------------------------------------------------------------------------------


def test_list_shows_active_approvals_escalations_and_uses(
    log: Path, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    main(approve_args(log, "--expires-in", "30m"), clock=clock)
    main(approve_args(log, "--expires-in", "1d", gate="inject_503", env="embedded"), clock=clock)
    long_lived = ApprovalLog.load(log).approvals[1]
    record_use(log, long_lived, test_id="suites/test_chaos.py::test_503", clock=clock)
    record_use(log, long_lived, test_id="suites/test_chaos.py::test_503_again", clock=clock)
    record_escalation(log, kind="stripe_live_failure", detail="500 on\x1b[2J charge", clock=clock)
    record_action(log, what="clear faults (rollback)", app="A8", env="embedded", clock=clock)
    capsys.readouterr()
    clock.advance(3600)  # the 30 m approval has expired

    assert main(["list", "--log", str(log)], clock=clock) == 0

    out = capsys.readouterr().out
    assert "6 entries" in out
    assert f"protection: {UNKEYED_NOTE}\n" in out
    assert "approvals: 1 active of 2" in out
    assert re.search(
        rf"{long_lived.short_id}\s+inject_503\s+embedded\s+alice\s+2026-01-02T00:00:00Z"
        r"\s+active\s+2\s+release 1\.2 smoke",
        out,
    )
    assert "prod_write" not in out
    assert "escalations: 1" in out
    assert re.search(r"stripe_live_failure\s+500 on\\x1b\[2J charge", out)  # escaped, not raw
    assert "\x1b" not in out
    assert "actions: 1 (fault switches and clock moves the harness made)\n" in out
    assert "uses: 2\n" in out
    assert out.rstrip().endswith("runs: 0 (one record per gate run)")


def test_list_all_includes_expired(
    log: Path, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    main(approve_args(log, "--expires-in", "30m"), clock=clock)
    clock.advance(3600)
    capsys.readouterr()

    assert main(["list", "--log", str(log)], clock=clock) == 0
    assert "none active; --all shows expired ones" in capsys.readouterr().out

    assert main(["list", "--log", str(log), "--all"], clock=clock) == 0
    assert re.search(r"prod_write\s+staging\s+alice\s+\S+\s+expired\s+0", capsys.readouterr().out)


def test_list_on_a_corrupt_log_is_exit_2(
    log: Path, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    main(approve_args(log, "--expires-in", "1h"), clock=clock)
    log.write_text(log.read_text().replace("alice", "mallory"))
    capsys.readouterr()

    assert main(["list", "--log", str(log)], clock=clock) == 2
    out, err = capsys.readouterr()
    assert "line 1: hash does not match" in assert_one_error_line(err, out)


def test_approve_on_a_corrupt_log_is_exit_2_and_changes_nothing(
    log: Path, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    log.parent.mkdir(parents=True)
    log.write_bytes(b'{"seq": 0, "kind": "appro')
    capsys.readouterr()

    assert main(approve_args(log, "--expires-in", "1h"), clock=clock) == 2

    out, err = capsys.readouterr()
    assert f"{log}: line 1: not valid JSON" in assert_one_error_line(err, out)
    assert log.read_bytes() == b'{"seq": 0, "kind": "appro'


# --- verify --------------------------------------------------------------------------------


def test_verify_ok(log: Path, clock: ManualClock, capsys: pytest.CaptureFixture[str]) -> None:
    main(approve_args(log, "--expires-in", "1h"), clock=clock)
    record_escalation(log, kind="oidc_regression", detail="x", clock=clock)
    capsys.readouterr()

    assert main(["verify", "--log", str(log)]) == 0

    out, err = capsys.readouterr()
    assert err == ""
    assert out == f"OK: 2 entries, head {ApprovalLog.load(log).head[:12]}; {UNKEYED_NOTE}\n"


def test_verify_with_the_key_names_the_key_id_and_catches_a_rehashed_edit(
    log: Path,
    clock: ManualClock,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    main(approve_args(log, "--expires-in", "1h"), clock=clock)
    capsys.readouterr()

    assert main(["verify", "--log", str(log)]) == 0
    out = capsys.readouterr().out
    assert out.endswith(f"; keyed: HMAC-SHA256, key id {key_id(KEY.encode())}\n")
    assert KEY not in out

    entry = json.loads(log.read_text())
    entry["who"] = "mallory"
    body = {k: v for k, v in entry.items() if k not in ("hash", "mac")}
    entry["hash"] = hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    log.write_text(json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n")

    assert main(["verify", "--log", str(log)]) == 1
    assert "line 1: MAC does not match" in capsys.readouterr().err


def test_verify_a_keyed_log_without_the_key_fails_saying_the_key_is_needed(
    log: Path,
    clock: ManualClock,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    main(approve_args(log, "--expires-in", "1h"), clock=clock)
    monkeypatch.delenv(KEY_ENV)
    capsys.readouterr()

    assert main(["verify", "--log", str(log)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"FAIL: HITL approvals log {log}: line 1: the log is keyed")
    assert f"set {KEY_ENV} to the key to read it" in err


def test_verify_missing_log_is_ok_and_says_so(
    log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", "--log", str(log)]) == 0
    assert capsys.readouterr().out == (
        f"OK: 0 entries, head 000000000000 (no log file at {log} yet); {UNKEYED_NOTE}\n"
    )


def test_verify_broken_chain_is_exit_1_with_the_line(
    log: Path, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    for hours in ("1h", "2h", "3h"):
        main(approve_args(log, "--expires-in", hours), clock=clock)
    lines = log.read_text().splitlines(keepends=True)
    log.write_text(lines[0] + lines[2])  # line 2 deleted
    capsys.readouterr()

    assert main(["verify", "--log", str(log)]) == 1

    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"FAIL: HITL approvals log {log}: line 2: seq is 2, expected 1 " + (
        "(line removed, inserted or reordered?)\n"
    )


# --- the installed script ------------------------------------------------------------------


def test_installed_script_end_to_end(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if k not in (KEY_ENV, PREVIOUS_KEYS_ENV)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPT), *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
            env=environ,
        )

    approved = run(
        "approve", "--who", "alice", "--gate", "load_over_60_vus", "--env", "staging",
        "--reason", "ramp to 80 VUs", "--expires-in", "90s",
    )  # fmt: skip
    verified = run("verify")
    bad = run("approve", "--who", "a", "--gate", "nope", "--env", "staging", "--reason", "r")

    assert approved.returncode == 0, approved.stderr
    assert re.fullmatch(
        r"approved [0-9a-f]{12}: gate load_over_60_vus, env staging, expires \S+Z "
        r"\(log tests/perf/reports/hitl_approvals\.log\)\n",
        approved.stdout,
    )
    assert (tmp_path / "tests/perf/reports/hitl_approvals.log").is_file()  # default path
    assert verified.returncode == 0
    assert re.fullmatch(r"OK: 1 entries, head [0-9a-f]{12}; unkeyed: [^\n]+\n", verified.stdout)
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert_one_error_line(bad.stderr)
    assert "invalid choice: 'nope'" in bad.stderr
