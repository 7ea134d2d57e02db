"""Appending to the HITL log verifies the new line, not the whole log again, and nothing
changed before it slips through: the verified prefix must still be there byte for byte,
under the same keys. (Re-verifying everything on each action cost 66 ms for 2,256 entries,
twice per action, in the thread the drills log from: their prober starved.)"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from secondconf.core.clock import ManualClock
from secondconf.hitl import log as hitl_log
from secondconf.hitl.keys import LogKeys
from secondconf.hitl.log import ApprovalLog, ApprovalLogError, record_action

UNKEYED = LogKeys()
KEYED = LogKeys(b"k" * 32)


def _act(path: Path, clock: ManualClock, what: str) -> None:
    record_action(path, what=what, app="A2", env="embedded", clock=clock, keys=UNKEYED)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 1, 1, tzinfo=UTC))


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many entry hashes were computed (each verified line computes one)."""
    counted = [0]
    original: Callable[[Any], str] = hitl_log._entry_hash

    def counting(entry: Any) -> str:
        counted[0] += 1
        return original(entry)

    monkeypatch.setattr(hitl_log, "_entry_hash", counting)
    return counted


def test_an_append_to_a_long_log_verifies_only_the_new_line(
    tmp_path: Path, clock: ManualClock, hashes: list[int]
) -> None:
    path = tmp_path / "hitl_approvals.log"
    for number in range(200):
        _act(path, clock, f"fault {number}")
    hashes[0] = 0

    _act(path, clock, "one more")

    assert hashes[0] <= 2  # the new entry's hash, written and verified; not 2 x 201
    assert len(ApprovalLog.load(path, UNKEYED).actions) == 201


def test_a_line_changed_between_appends_is_still_caught(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "hitl_approvals.log"
    for number in range(5):
        _act(path, clock, f"fault {number}")
    lines = path.read_text(encoding="utf-8").splitlines()
    entry = json.loads(lines[2])
    entry["what"] = "fault 2, edited"
    lines[2] = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with pytest.raises(ApprovalLogError, match="line 3: hash does not match"):
        _act(path, clock, "after the edit")
    with pytest.raises(ApprovalLogError, match="line 3: hash does not match"):
        ApprovalLog.load(path, UNKEYED)


def test_entries_dropped_from_the_end_are_not_remembered(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "hitl_approvals.log"
    for number in range(4):
        _act(path, clock, f"fault {number}")
    kept = path.read_text(encoding="utf-8").splitlines()[:2]
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")

    _act(path, clock, "after the cut")

    log = ApprovalLog.load(path, UNKEYED)
    assert [action.what for action in log.actions] == ["fault 0", "fault 1", "after the cut"]


def test_other_keys_verify_the_whole_log_again(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "hitl_approvals.log"
    for number in range(3):
        _act(path, clock, f"fault {number}")
    ApprovalLog.load(path, UNKEYED)

    with pytest.raises(ApprovalLogError, match="line 1: no MAC"):
        ApprovalLog.load(path, KEYED)
