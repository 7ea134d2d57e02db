"""The HITL approvals log: lookup, expiry, the length cap, actions, chaining, tamper
evidence, what kind of file it reads, snapshots, locking. (The HMAC chain under a key:
test_hitl_hmac.py; without a key every log here is unkeyed.)"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from secondconf.contract.platform import ENVS
from secondconf.core.clock import ManualClock, SystemClock
from secondconf.hitl.keys import KEY_ENV, PREVIOUS_KEYS_ENV
from secondconf.hitl.log import (
    DEFAULT_MAX_APPROVAL,
    GATES,
    GENESIS,
    MAX_LOG_BYTES,
    Approval,
    ApprovalLog,
    ApprovalLogError,
    ApprovalTooLongError,
    append_approval,
    record_action,
    record_escalation,
    record_use,
)

GATE, ENV = "prod_write", "staging"
START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def unkeyed(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests write and read the unkeyed log, whatever the developer's environment."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(PREVIOUS_KEYS_ENV, raising=False)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    # A parent that does not exist yet: appending must create it.
    return tmp_path / "reports" / "hitl_approvals.log"


def approve(
    path: Path,
    clock: ManualClock,
    *,
    gate: str = GATE,
    env: str = ENV,
    hours: float = 2,
    who: str = "alice",
    reason: str = "release 1.2 smoke",
) -> Approval:
    return append_approval(
        path,
        who=who,
        gate=gate,
        env=env,
        reason=reason,
        expires_at=clock.now() + timedelta(hours=hours),
        clock=clock,
    )


def canonical(entry: dict[str, Any]) -> str:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(canonical(body).encode()).hexdigest()


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_lines(path: Path, entries: list[dict[str, Any]]) -> None:
    path.write_text("".join(canonical(e) + "\n" for e in entries), encoding="utf-8")


def rechain(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Recompute every prev/hash: a forger who rewrites the whole file."""
    prev = GENESIS
    for entry in entries:
        entry["prev"] = prev
        entry["hash"] = prev = sha(entry)
    return entries


# --- lookup and expiry -------------------------------------------------------------------


def test_approve_then_valid_approval_finds_it(log_path: Path, clock: ManualClock) -> None:
    approval = approve(log_path, clock)

    log = ApprovalLog.load(log_path)

    assert log.valid_approval(GATE, ENV, clock.now()) == approval
    assert approval.who == "alice"
    assert approval.reason == "release 1.2 smoke"
    assert approval.approved_at == START
    assert approval.expires_at == START + timedelta(hours=2)
    assert approval.id == log.head == log.entries[0]["hash"]
    assert approval.short_id == approval.id[:12]


def test_expired_approval_is_not_valid(log_path: Path, clock: ManualClock) -> None:
    approve(log_path, clock, hours=1)
    log = ApprovalLog.load(log_path)

    clock.advance(3600 - 0.001)
    assert log.valid_approval(GATE, ENV, clock.now()) is not None
    clock.advance(0.001)  # exactly expires_at: expired
    assert log.valid_approval(GATE, ENV, clock.now()) is None
    clock.advance(60)
    assert log.valid_approval(GATE, ENV, clock.now()) is None


@pytest.mark.parametrize(
    ("gate", "env"),
    [(GATE, "prod_observe"), (GATE, "embedded"), ("inject_503", ENV), ("secret_rotation", ENV)],
)
def test_approval_does_not_cover_other_gate_or_env(
    log_path: Path, clock: ManualClock, gate: str, env: str
) -> None:
    approve(log_path, clock)
    assert ApprovalLog.load(log_path).valid_approval(gate, env, clock.now()) is None


def test_latest_unexpired_approval_wins(log_path: Path, clock: ManualClock) -> None:
    first = approve(log_path, clock, hours=5, who="alice")
    clock.advance(60)
    second = approve(log_path, clock, hours=3, who="bob")
    clock.advance(60)
    third = approve(log_path, clock, hours=1, who="carol")
    log = ApprovalLog.load(log_path)

    assert log.valid_approval(GATE, ENV, clock.now()) == third
    clock.advance(2 * 3600)  # third has expired, second has not
    assert log.valid_approval(GATE, ENV, clock.now()) == second
    clock.advance(2 * 3600)  # only the first, longest one is left
    assert log.valid_approval(GATE, ENV, clock.now()) == first
    assert [a.who for a in log.approvals] == ["alice", "bob", "carol"]


# --- the length cap ------------------------------------------------------------------------


def test_approvals_are_capped_at_seven_days_by_default(log_path: Path, clock: ManualClock) -> None:
    assert timedelta(days=7) == DEFAULT_MAX_APPROVAL
    week = approve(log_path, clock, hours=7 * 24)  # exactly the cap: allowed

    with pytest.raises(ApprovalTooLongError, match="would last 7d1s, longer than the cap of 7d"):
        approve(log_path, clock, hours=7 * 24 + 1 / 3600)
    with pytest.raises(ApprovalTooLongError, match="longer than the cap of 1h"):
        append_approval(
            log_path,
            who="alice",
            gate=GATE,
            env=ENV,
            reason="x",
            expires_at=clock.now() + timedelta(hours=2),
            clock=clock,
            max_length=timedelta(hours=1),
        )
    assert ApprovalLog.load(log_path).approvals == (week,)


def test_a_far_future_expiry_with_an_offset_is_refused_without_overflow(
    log_path: Path, clock: ManualClock
) -> None:
    far = datetime.fromisoformat("9999-12-31T23:59:59-05:00")  # no UTC equivalent
    with pytest.raises(ApprovalTooLongError, match="longer than the cap"):
        append_approval(
            log_path, who="a", gate=GATE, env=ENV, reason="r", expires_at=far, clock=clock
        )
    assert not log_path.exists()


def test_the_reader_ignores_an_approval_longer_than_its_cap(
    log_path: Path, clock: ManualClock
) -> None:
    """A longer approval written under a looser cap (or by hand, rechained) never counts."""
    month = append_approval(
        log_path,
        who="alice",
        gate=GATE,
        env=ENV,
        reason="standing permission",
        expires_at=clock.now() + timedelta(days=30),
        clock=clock,
        max_length=timedelta(days=30),
    )
    log = ApprovalLog.load(log_path)

    assert month.length == timedelta(days=30)
    assert log.valid_approval(GATE, ENV, clock.now()) is None  # default cap: 7 days
    assert log.valid_approval(GATE, ENV, clock.now(), max_length=timedelta(days=30)) == month
    assert log.valid_approval(GATE, ENV, clock.now(), max_length=None) == month


def test_missing_and_empty_logs_are_empty_and_valid(tmp_path: Path) -> None:
    missing = ApprovalLog.load(tmp_path / "nope.log")
    (tmp_path / "empty.log").write_bytes(b"")
    empty = ApprovalLog.load(tmp_path / "empty.log")

    for log in (missing, empty):
        assert (log.entries, log.approvals, log.uses, log.escalations) == ((), (), (), ())
        assert log.head == GENESIS
        assert log.valid_approval(GATE, ENV, START) is None


@pytest.mark.parametrize(("gate", "env", "named"), [("bogus", ENV, "gate"), (GATE, "dev", "env")])
def test_unknown_gate_or_env_names_the_valid_values(
    log_path: Path, clock: ManualClock, gate: str, env: str, named: str
) -> None:
    valid = GATES if named == "gate" else ENVS
    with pytest.raises(ValueError, match=f"unknown {named}") as lookup:
        ApprovalLog.load(log_path).valid_approval(gate, env, clock.now())
    with pytest.raises(ValueError, match=f"unknown {named}") as append:
        approve(log_path, clock, gate=gate, env=env)

    for exc in (lookup.value, append.value):
        assert all(name in str(exc) for name in valid)
    assert not log_path.exists()


def test_valid_approval_needs_an_aware_now(log_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ApprovalLog.load(log_path).valid_approval(GATE, ENV, datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"who": ""}, "who must be a non-empty"),
        ({"who": "   "}, "who must be a non-empty"),
        ({"reason": ""}, "reason must be a non-empty"),
        ({"reason": "line one\nline two"}, "reason must be one line"),
        ({"reason": "red \x1b[31m"}, "reason must be one line"),
        ({"who": "bad \udcff"}, "who is not valid Unicode"),
        ({"expires_at": datetime(2026, 1, 2)}, "timezone-aware"),
        ({"expires_at": START}, "is not after now"),
        ({"expires_at": START - timedelta(seconds=1)}, "is not after now"),
    ],
)
def test_append_approval_validates_input(
    log_path: Path, clock: ManualClock, changes: dict[str, Any], message: str
) -> None:
    kwargs: dict[str, Any] = {
        "who": "alice",
        "gate": GATE,
        "env": ENV,
        "reason": "smoke",
        "expires_at": START + timedelta(hours=1),
    }
    kwargs.update(changes)
    with pytest.raises(ValueError, match=message):
        append_approval(log_path, clock=clock, **kwargs)
    assert not log_path.exists()


# --- entry format, uses, escalations ---------------------------------------------------


def test_entries_are_chained_canonical_and_hold_only_typed_values(
    log_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_should_never_appear")
    approval = approve(log_path, clock, reason="über release ✓")
    clock.advance(1)
    record_use(log_path, approval, test_id="suites/test_load.py::test_ramp[80]", clock=clock)
    clock.advance(1)
    record_escalation(log_path, kind="stripe_live_failure", detail="HTTP 500", clock=clock)

    raw = log_path.read_bytes()
    assert b"sk_test_should_never_appear" not in raw
    assert "über release ✓".encode() in raw  # ensure_ascii=False: stored as typed
    entries = lines_of(log_path)
    assert raw.decode().splitlines() == [canonical(e) for e in entries]
    assert [e["seq"] for e in entries] == [0, 1, 2]
    assert [e["kind"] for e in entries] == ["approval", "use", "escalation"]
    assert [e["at"] for e in entries] == [
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:01Z",
        "2026-01-01T00:00:02Z",
    ]
    assert entries[0]["prev"] == GENESIS
    for before, entry in itertools.pairwise(entries):
        assert entry["prev"] == before["hash"]
    for entry in entries:
        assert entry["hash"] == sha(entry)
    common = {"seq", "kind", "at", "prev", "hash"}
    assert set(entries[0]) == common | {"who", "gate", "env", "reason", "expires_at"}
    assert set(entries[1]) == common | {"approval_id", "test_id", "gate", "env"}
    assert set(entries[2]) == common | {"escalation", "detail"}
    assert entries[0]["expires_at"] == "2026-01-01T02:00:00Z"


def test_record_use_is_chained_to_its_approval(log_path: Path, clock: ManualClock) -> None:
    approval = approve(log_path, clock)
    other = approve(log_path, clock, gate="inject_503", env="embedded")
    uses = [
        record_use(log_path, approval, test_id="t::a", clock=clock),
        record_use(log_path, other, test_id="t::b", clock=clock),
        record_use(log_path, approval, test_id="t::c", clock=clock),
    ]
    log = ApprovalLog.load(log_path)

    assert log.uses == tuple(uses)
    assert [(u.approval_id, u.test_id, u.gate, u.env) for u in log.uses] == [
        (approval.id, "t::a", GATE, ENV),
        (other.id, "t::b", "inject_503", "embedded"),
        (approval.id, "t::c", GATE, ENV),
    ]
    assert [u.seq for u in log.uses] == [2, 3, 4]
    assert log.head == uses[-1].id


def test_record_use_refuses_an_expired_approval(log_path: Path, clock: ManualClock) -> None:
    approval = approve(log_path, clock, hours=1)
    before = log_path.read_bytes()
    clock.advance(3600)

    with pytest.raises(ValueError, match=r"expired at 2026-01-01T01:00:00Z; t::x may not run"):
        record_use(log_path, approval, test_id="t::x", clock=clock)
    assert log_path.read_bytes() == before


def test_record_use_refuses_an_approval_from_another_log(
    tmp_path: Path, clock: ManualClock
) -> None:
    foreign = approve(tmp_path / "other.log", clock)
    log_path = tmp_path / "hitl.log"
    approve(log_path, clock, who="bob")
    before = log_path.read_bytes()

    with pytest.raises(ApprovalLogError, match=f"approval {foreign.short_id} .* not in this log"):
        record_use(log_path, foreign, test_id="t::x", clock=clock)
    assert log_path.read_bytes() == before


def test_record_use_needs_a_test_id(log_path: Path, clock: ManualClock) -> None:
    approval = approve(log_path, clock)
    with pytest.raises(ValueError, match="test_id"):
        record_use(log_path, approval, test_id=" ", clock=clock)


def test_escalations_are_logged(log_path: Path, clock: ManualClock) -> None:
    record_escalation(log_path, kind="oidc_regression", detail="cookie lost SameSite", clock=clock)
    clock.advance(5)
    record_escalation(log_path, kind="a3_stalled", detail="no progress\nfor 2 h", clock=clock)

    log = ApprovalLog.load(log_path)

    assert [(e.seq, e.kind, e.detail, e.at) for e in log.escalations] == [
        (0, "oidc_regression", "cookie lost SameSite", START),
        (1, "a3_stalled", "no progress\nfor 2 h", START + timedelta(seconds=5)),
    ]


@pytest.mark.parametrize(
    ("kind", "detail", "message"),
    [
        ("Stripe Live", "x", "snake_case"),
        ("", "x", "snake_case"),
        ("stripe_live_failure", "  ", "detail"),
    ],
)
def test_escalation_input_is_validated(
    log_path: Path, clock: ManualClock, kind: str, detail: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        record_escalation(log_path, kind=kind, detail=detail, clock=clock)
    assert not log_path.exists()


def test_actions_are_logged_with_who_what_app_env_and_when(
    log_path: Path, clock: ManualClock
) -> None:
    record_action(
        log_path,
        what='set faults {"clock_offset_s":901.0}',
        app="A8",
        env="embedded",
        clock=clock,
    )
    clock.advance(2)
    record_action(
        log_path,
        what='set faults {"clock_offset_s":0.0} (rollback)',
        app="A8",
        env="embedded",
        clock=clock,
    )

    log = ApprovalLog.load(log_path)
    assert [(a.who, a.what, a.app, a.env, a.at) for a in log.actions] == [
        ("harness", 'set faults {"clock_offset_s":901.0}', "A8", "embedded", START),
        (
            "harness",
            'set faults {"clock_offset_s":0.0} (rollback)',
            "A8",
            "embedded",
            START + timedelta(seconds=2),
        ),
    ]
    assert set(lines_of(log_path)[0]) == {
        "seq", "kind", "at", "prev", "hash", "who", "what", "app", "env"
    }  # fmt: skip
    assert lines_of(log_path)[0]["kind"] == "action"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"app": "A9"}, "unknown app 'A9'"),
        ({"env": "dev"}, "unknown env 'dev'"),
        ({"what": " "}, "what must be a non-empty"),
        ({"what": "two\nlines"}, "what must be one line"),
        ({"who": ""}, "who must be a non-empty"),
    ],
)
def test_action_input_is_validated(
    log_path: Path, clock: ManualClock, changes: dict[str, str], message: str
) -> None:
    kwargs = {"what": "clear faults", "app": "A2", "env": "embedded", **changes}
    with pytest.raises(ValueError, match=message):
        record_action(log_path, clock=clock, **kwargs)
    assert not log_path.exists()


# --- tamper evidence ---------------------------------------------------------------------


@pytest.fixture
def five_entry_log(log_path: Path, clock: ManualClock) -> Path:
    """approval, use, escalation, approval, use."""
    first = approve(log_path, clock)
    clock.advance(1)
    record_use(log_path, first, test_id="t::a", clock=clock)
    clock.advance(1)
    record_escalation(log_path, kind="schema_mismatch", detail="after 2 attempts", clock=clock)
    clock.advance(1)
    second = approve(log_path, clock, gate="inject_503", env="embedded", who="bob")
    clock.advance(1)
    record_use(log_path, second, test_id="t::b", clock=clock)
    return log_path


Tamper = Callable[[list[bytes]], list[bytes]]


def _edit(number: int, **changes: Any) -> Tamper:
    def tamper(lines: list[bytes]) -> list[bytes]:
        entry = json.loads(lines[number - 1])
        entry.update(changes)
        lines[number - 1] = canonical(entry).encode()
        return lines

    return tamper


def _forge(number: int, **changes: Any) -> Tamper:
    """Edit a line and recompute its own hash, leaving the next line's prev alone."""

    def tamper(lines: list[bytes]) -> list[bytes]:
        entry = json.loads(lines[number - 1])
        entry.update(changes)
        entry["hash"] = sha(entry)
        lines[number - 1] = canonical(entry).encode()
        return lines

    return tamper


def _swap(lines: list[bytes]) -> list[bytes]:
    lines[1], lines[2] = lines[2], lines[1]
    return lines


TAMPERS: dict[str, tuple[Tamper, int, str]] = {
    "edit middle field": (_edit(3, detail="nothing to see"), 3, "hash does not match"),
    "edit seq": (_edit(4, seq=7), 4, "seq is 7, expected 3"),
    "delete middle line": (lambda ls: ls[:2] + ls[3:], 3, "seq is 3, expected 2"),
    "reorder two lines": (_swap, 2, "seq is 2, expected 1"),
    "truncate last line": (lambda ls: [*ls[:4], ls[4][:40]], 5, "not valid JSON.*truncated"),
    "garbage line": (lambda ls: [ls[0], b"hello, world", *ls[2:]], 2, "not valid JSON"),
    "forged hash": (_forge(2, test_id="t::evil"), 3, "prev does not match the hash of line 2"),
    "forged first prev": (_forge(1, prev="1" * 64), 1, "prev does not match 64 zeros"),
    "blank line": (lambda ls: [ls[0], b"", *ls[1:]], 2, "empty line"),
    "whitespace": (lambda ls: [ls[0].replace(b":", b": ", 1), *ls[1:]], 1, "canonical form"),
    "not utf-8": (lambda ls: [ls[0], b'{"a":"\xff"}', *ls[2:]], 2, "not UTF-8"),
    "duplicate key": (
        lambda ls: [ls[0], ls[1][:-1] + b',"test_id":"t::z"}', *ls[2:]],
        2,
        "duplicate key 'test_id'",
    ),
    "json array": (lambda ls: [b"[]", *ls[1:]], 1, "expected a JSON object, got list"),
    "extra field": (_edit(2, note="hi"), 2, "unexpected field"),
    "missing field": (
        lambda ls: [ls[0], ls[1].replace(b'"gate"', b'"gait"'), *ls[2:]],
        2,
        r"missing field\(s\): gate",
    ),
}


@pytest.mark.parametrize("name", TAMPERS)
def test_tampering_is_detected_at_the_right_line(five_entry_log: Path, name: str) -> None:
    tamper, line, message = TAMPERS[name]
    lines = five_entry_log.read_bytes().splitlines()
    five_entry_log.write_bytes(b"\n".join(tamper(lines)) + b"\n")

    with pytest.raises(ApprovalLogError, match=message) as caught:
        ApprovalLog.load(five_entry_log)

    text = str(caught.value)
    assert text.startswith(f"HITL approvals log {five_entry_log}: line {line}: ")
    assert "\n" not in text


SEMANTIC: dict[str, tuple[int, dict[str, Any], str]] = {
    "unknown gate": (0, {"gate": "root_shell"}, "unknown gate 'root_shell' \\(valid: load_"),
    "unknown env": (0, {"env": "dev"}, "unknown env 'dev'"),
    "empty who": (0, {"who": " "}, "who is empty"),
    "expires before approval": (0, {"expires_at": "2025-12-31T00:00:00Z"}, "not after"),
    "naive time": (0, {"at": "2026-01-01T00:00:00"}, "not an RFC 3339 UTC time"),
    "offset time": (0, {"at": "2026-01-01T01:00:00+01:00"}, "not an RFC 3339 UTC time"),
    "seq as bool": (0, {"seq": False}, "seq must be an integer"),
    "number as who": (0, {"who": 7}, "who must be a string"),
    "unknown kind": (2, {"kind": "revocation"}, "kind must be one of"),
    "use of unknown approval": (1, {"approval_id": "a" * 64}, "not an earlier approval"),
    "use with other gate": (1, {"gate": "inject_503"}, "differ from approval"),
    "short hash id": (1, {"approval_id": "abc"}, "64 lowercase hex"),
    "bad escalation kind": (2, {"escalation": "Oops!"}, "snake_case"),
    "action on an unknown app": (3, {"app": "Z1"}, "unknown app 'Z1'"),
    "action without what": (3, {"what": ""}, "what is empty"),
    "half a MAC": (3, {"key_id": "0" * 16}, r"missing field\(s\): mac"),
}


@pytest.mark.parametrize("name", SEMANTIC)
def test_a_fully_rechained_log_must_still_make_sense(
    log_path: Path, clock: ManualClock, name: str
) -> None:
    index, changes, message = SEMANTIC[name]
    approval = approve(log_path, clock)
    record_use(log_path, approval, test_id="t::a", clock=clock)
    record_escalation(log_path, kind="stripe_live_failure", detail="x", clock=clock)
    record_action(log_path, what="clear faults", app="A8", env="embedded", clock=clock)
    entries = lines_of(log_path)
    entries[index].update(changes)
    write_lines(log_path, rechain(entries))

    with pytest.raises(ApprovalLogError, match=f"line {index + 1}: .*{message}"):
        ApprovalLog.load(log_path)


Append = Callable[[Path, ManualClock, Approval], object]
APPENDS: dict[str, Append] = {
    "approval": lambda path, clock, _: approve(path, clock),
    "use": lambda path, clock, approval: record_use(path, approval, test_id="t::x", clock=clock),
    "escalation": lambda path, clock, _: record_escalation(
        path, kind="oidc_regression", detail="x", clock=clock
    ),
}


@pytest.mark.parametrize("append", APPENDS)
@pytest.mark.parametrize("name", ["edit middle field", "forged hash", "truncate last line"])
def test_appending_to_a_tampered_log_refuses_and_changes_nothing(
    five_entry_log: Path, clock: ManualClock, append: str, name: str
) -> None:
    approval = ApprovalLog.load(five_entry_log).approvals[0]  # taken before tampering
    tamper, line, message = TAMPERS[name]
    five_entry_log.write_bytes(b"\n".join(tamper(five_entry_log.read_bytes().splitlines())) + b"\n")
    before = five_entry_log.read_bytes()

    with pytest.raises(ApprovalLogError, match=f"line {line}: .*{message}"):
        APPENDS[append](five_entry_log, clock, approval)

    assert five_entry_log.read_bytes() == before
    assert sorted(p.name for p in five_entry_log.parent.iterdir()) == [
        "hitl_approvals.log",
        "hitl_approvals.log.lock",
    ]  # no temp file left behind


def test_a_missing_final_newline_is_tolerated_and_repaired(
    log_path: Path, clock: ManualClock
) -> None:
    approve(log_path, clock)
    log_path.write_bytes(log_path.read_bytes().rstrip(b"\n"))
    assert len(ApprovalLog.load(log_path).entries) == 1

    approve(log_path, clock, who="bob")

    assert [a.who for a in ApprovalLog.load(log_path).approvals] == ["alice", "bob"]
    assert log_path.read_bytes().count(b"\n") == 2


def test_an_unreadable_log_is_a_log_error(tmp_path: Path) -> None:
    (tmp_path / "dir.log").mkdir()
    with pytest.raises(ApprovalLogError, match=r"dir\.log: cannot read it: not a regular file"):
        ApprovalLog.load(tmp_path / "dir.log")


_LOAD = "import sys; from secondconf.hitl.log import ApprovalLog; ApprovalLog.load(sys.argv[1])"


def test_a_fifo_named_as_the_log_is_refused_at_once(tmp_path: Path) -> None:
    """Reading a FIFO blocks until a writer comes: the log is checked before it is read.
    In a child process, so a regression fails on the timeout instead of hanging the run."""
    fifo = tmp_path / "hitl.log"
    os.mkfifo(fifo)

    child = subprocess.run(
        [sys.executable, "-c", _LOAD, str(fifo)], capture_output=True, text=True, timeout=30
    )

    assert child.returncode != 0
    assert child.stderr.strip().splitlines()[-1] == (
        f"secondconf.hitl.log.ApprovalLogError: HITL approvals log {fifo}: cannot read it:"
        " not a regular file (a FIFO)"
    )


def test_a_fifo_at_the_lock_path_is_refused_at_once(log_path: Path, clock: ManualClock) -> None:
    log_path.parent.mkdir(parents=True)
    os.mkfifo(log_path.with_name(log_path.name + ".lock"))  # open for writing would block

    with pytest.raises(ApprovalLogError, match="cannot open its lock file"):
        approve(log_path, clock)
    assert not log_path.exists()


def test_a_log_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "hitl.log"
    with open(big, "wb") as handle:
        handle.truncate(MAX_LOG_BYTES + 1)  # sparse: costs no disk
    assert MAX_LOG_BYTES == 16 * 1024 * 1024

    with pytest.raises(ApprovalLogError, match=r"16777217 bytes, more than the 16 MiB"):
        ApprovalLog.load(big)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("pristine") / "hitl.log"
    clock = ManualClock(START)
    approval = approve(path, clock, reason="naïve ✓ reason")
    record_use(path, approval, test_id="t::a[1]", clock=clock)
    record_escalation(path, kind="stripe_live_failure", detail='say "hi"\n', clock=clock)
    return path.read_bytes()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_single_byte_change_is_detected(
    pristine: bytes, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    edit = data.draw(st.sampled_from(["flip", "delete", "insert"]))
    # Deleting the final newline is the one lossless edit (a missing final newline is fine).
    last = len(pristine) - (2 if edit == "delete" else 1)
    at = data.draw(st.integers(0, last + (1 if edit == "insert" else 0)))
    if edit == "delete":
        changed = pristine[:at] + pristine[at + 1 :]
    else:
        byte = data.draw(
            # Bias to bytes that matter to JSON, so whitespace and escape tricks get tried.
            st.one_of(st.sampled_from(b' \t\r\n{}[]",:\\0aAu'), st.integers(0, 255)).filter(
                lambda b: edit == "insert" or b != pristine[at]
            )
        )
        changed = pristine[:at] + bytes([byte]) + pristine[at + (edit == "flip") :]
    path = tmp_path_factory.getbasetemp() / "fuzzed.log"
    path.write_bytes(changed)

    with pytest.raises(ApprovalLogError):
        ApprovalLog.load(path)


# --- snapshots for xdist workers ---------------------------------------------------------


def test_snapshot_round_trips_through_json(five_entry_log: Path) -> None:
    log = ApprovalLog.load(five_entry_log)

    data = json.loads(json.dumps(log.to_json()))  # JSON-safe, as execnet will carry it
    again = ApprovalLog.from_json(data)

    assert again == log
    assert again.valid_approval("inject_503", "embedded", START) == log.approvals[1]
    data["entries"][0]["who"] = "mallory"  # the snapshot owns copies, not our dicts
    assert again.entries[0]["who"] == "alice"


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda d: d["entries"][1].update(test_id="t::evil"), "line 2: hash does not match"),
        (lambda d: d["entries"].pop(1), "line 2: seq is 2, expected 1"),
        (lambda d: d["entries"].pop(), "head is .* but the snapshot says"),
        (lambda d: d.update(head="0" * 64), "but the snapshot says 000000000000"),
        (lambda d: d.update(format="other/1"), "not a secondconf-hitl-log/1 snapshot"),
        (lambda d: d.update(entries="[]"), "list 'entries'"),
        (lambda d: d["entries"].__setitem__(0, "x"), "line 1: expected a JSON object"),
    ],
)
def test_from_json_reverifies(
    five_entry_log: Path, corrupt: Callable[[dict[str, Any]], object], message: str
) -> None:
    data = ApprovalLog.load(five_entry_log).to_json()
    corrupt(data)
    with pytest.raises(ApprovalLogError, match=message):
        ApprovalLog.from_json(data)


# --- concurrent appends ------------------------------------------------------------------


def test_concurrent_thread_appends_keep_the_chain(log_path: Path) -> None:
    system = SystemClock()
    approval = append_approval(
        log_path,
        who="alice",
        gate=GATE,
        env=ENV,
        reason="soak",
        expires_at=system.now() + timedelta(hours=1),
        clock=system,
    )

    def worker(name: str) -> None:
        for i in range(20):
            if name == "uses":
                record_use(log_path, approval, test_id=f"t::{i}", clock=system)
            else:
                record_escalation(log_path, kind="a3_stalled", detail=str(i), clock=system)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(worker, ["uses", "escalations"]))

    log = ApprovalLog.load(log_path)
    assert len(log.entries) == 41
    assert len(log.uses) == len(log.escalations) == 20


_CHILD = textwrap.dedent(
    """
    import sys, time
    from datetime import timedelta
    from pathlib import Path
    from secondconf.hitl.log import append_approval, record_escalation
    from secondconf.core.clock import SystemClock

    log, role, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    clock = SystemClock()
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.001)
    for i in range(20):
        if role == "approve":
            append_approval(log, who=f"p{i}", gate="load_over_60_vus", env="staging",
                            reason="ramp", expires_at=clock.now() + timedelta(hours=1),
                            clock=clock)
        else:
            record_escalation(log, kind="stripe_live_failure", detail=str(i), clock=clock)
    """
)


def test_concurrent_process_appends_keep_the_chain(log_path: Path, clock: ManualClock) -> None:
    record_escalation(log_path, kind="oidc_regression", detail="before", clock=clock)
    go = log_path.parent / "go"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(log_path), role, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for role in ("approve", "escalate")
    ]
    for child in children:  # both started and imported: release them together
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
    go.touch()
    for child in children:
        _, err = child.communicate(timeout=30)
        assert child.returncode == 0, err

    log = ApprovalLog.load(log_path)
    assert len(log.entries) == 41
    assert len(log.approvals) == 20
    assert len(log.escalations) == 21
    assert [e["seq"] for e in log.entries] == list(range(41))
