"""The HITL log's HMAC chain under HITL_LOG_KEY: edits that recompute the unkeyed hashes are
caught, keys rotate, a keyed log needs its key, and no key value is ever shown."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from secondconf.core.clock import ManualClock
from secondconf.hitl.keys import KEY_ENV, PREVIOUS_KEYS_ENV, UNKEYED, LogKeys, key_id
from secondconf.hitl.log import (
    GENESIS,
    ApprovalLog,
    ApprovalLogError,
    append_approval,
    record_action,
    record_escalation,
    record_use,
)

START = datetime(2026, 1, 1, tzinfo=UTC)
KEY = "k" * 32
OLD_KEY = "o" * 32


@pytest.fixture(autouse=True)
def no_key_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(PREVIOUS_KEYS_ENV, raising=False)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "hitl.log"


def keys(current: str | None = KEY, *previous: str) -> LogKeys:
    return LogKeys.from_environ({KEY_ENV: current or "", PREVIOUS_KEYS_ENV: ",".join(previous)})


def canonical(entry: dict[str, Any]) -> str:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_lines(path: Path, entries: list[dict[str, Any]]) -> None:
    path.write_text("".join(canonical(e) + "\n" for e in entries), encoding="utf-8")


def rehash(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What an editor without the key can do: recompute every prev and hash."""
    prev = GENESIS
    for entry in entries:
        entry["prev"] = prev
        body = {k: v for k, v in entry.items() if k not in ("hash", "mac")}
        entry["hash"] = prev = hashlib.sha256(canonical(body).encode()).hexdigest()
    return entries


def three_entry_log(path: Path, clock: ManualClock, log_keys: LogKeys) -> None:
    approval = append_approval(
        path,
        who="alice",
        gate="inject_503",
        env="staging",
        reason="drill",
        expires_at=START + timedelta(hours=2),
        clock=clock,
        keys=log_keys,
    )
    clock.advance(1)
    record_use(path, approval, test_id="t::a", clock=clock, keys=log_keys)
    clock.advance(1)
    record_action(path, what="set faults {}", app="A8", env="staging", clock=clock, keys=log_keys)


def test_each_entry_carries_the_key_id_and_an_hmac_over_the_previous_mac_and_itself(
    log_path: Path, clock: ManualClock
) -> None:
    three_entry_log(log_path, clock, keys())

    previous = GENESIS
    for entry in lines_of(log_path):
        assert entry["key_id"] == key_id(KEY.encode()) != KEY
        body = canonical({k: v for k, v in entry.items() if k != "mac"})
        expected = hmac.new(KEY.encode(), (previous + body).encode(), hashlib.sha256)
        assert entry["mac"] == expected.hexdigest()
        previous = entry["mac"]
    log = ApprovalLog.load(log_path, keys())
    assert len(log.entries) == 3
    assert log.protection == f"keyed: HMAC-SHA256, key id {key_id(KEY.encode())}"
    assert KEY not in log_path.read_text()


def test_the_key_is_read_from_the_environment_by_default(
    log_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    record_escalation(log_path, kind="oidc_regression", detail="x", clock=clock)

    assert lines_of(log_path)[0]["key_id"] == key_id(KEY.encode())
    assert ApprovalLog.load(log_path).protection.startswith("keyed")


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda es: es[1].update(test_id="t::evil"), id="edit a field"),
        pytest.param(lambda es: es.pop(1), id="delete a line"),
        pytest.param(lambda es: es.__setitem__(slice(0, 2), es[1::-1]), id="reorder"),
        pytest.param(lambda es: es.__setitem__(2, dict(es[2], mac="0" * 64)), id="zero a mac"),
    ],
)
def test_an_edit_with_recomputed_hashes_fails_with_the_key(
    log_path: Path, clock: ManualClock, edit: Any
) -> None:
    three_entry_log(log_path, clock, keys())
    entries = lines_of(log_path)
    edit(entries)
    for seq, entry in enumerate(entries):
        entry["seq"] = seq
    write_lines(log_path, rehash(entries))

    # seq, prev and hash are checked before the MAC on every line, so a MAC error means
    # the unkeyed chain was satisfied: the edit is caught by the key alone.
    with pytest.raises(ApprovalLogError, match=r"line \d: MAC does not match") as caught:
        ApprovalLog.load(log_path, keys())
    assert "\n" not in str(caught.value)


def test_stripping_every_mac_fails_with_the_key(log_path: Path, clock: ManualClock) -> None:
    three_entry_log(log_path, clock, keys())
    stripped = [
        {k: v for k, v in e.items() if k not in ("key_id", "mac")} for e in lines_of(log_path)
    ]
    write_lines(log_path, rehash(stripped))

    with pytest.raises(ApprovalLogError, match=f"line 1: no MAC, but {KEY_ENV} is set"):
        ApprovalLog.load(log_path, keys())


def test_a_keyed_log_read_without_the_key_says_the_key_is_needed(
    log_path: Path, clock: ManualClock
) -> None:
    three_entry_log(log_path, clock, keys())
    before = log_path.read_bytes()

    with pytest.raises(ApprovalLogError, match=f"line 1: the log is keyed .*: set {KEY_ENV}"):
        ApprovalLog.load(log_path, LogKeys())
    with pytest.raises(ApprovalLogError, match="the log is keyed"):
        record_escalation(log_path, kind="a3_stalled", detail="x", clock=clock, keys=LogKeys())
    assert log_path.read_bytes() == before


def test_a_wrong_key_is_named_by_key_id_not_by_value(log_path: Path, clock: ManualClock) -> None:
    three_entry_log(log_path, clock, keys())
    other = "x" * 32

    with pytest.raises(ApprovalLogError, match="written under key id") as caught:
        ApprovalLog.load(log_path, keys(other))
    assert key_id(KEY.encode()) in str(caught.value)
    assert KEY not in str(caught.value)
    assert other not in str(caught.value)


def test_after_rotation_old_entries_verify_with_the_previous_key(
    log_path: Path, clock: ManualClock
) -> None:
    three_entry_log(log_path, clock, keys(OLD_KEY))
    record_escalation(
        log_path, kind="oidc_regression", detail="new key", clock=clock, keys=keys(KEY, OLD_KEY)
    )

    log = ApprovalLog.load(log_path, keys(KEY, OLD_KEY))
    assert [e["key_id"] for e in log.entries] == [key_id(OLD_KEY.encode())] * 3 + [
        key_id(KEY.encode())
    ]
    with pytest.raises(
        ApprovalLogError, match=f"line 1: written under key id .* {PREVIOUS_KEYS_ENV}"
    ):
        ApprovalLog.load(log_path, keys(KEY))  # the old key retired too early


def test_an_unkeyed_log_says_what_it_is(log_path: Path, clock: ManualClock) -> None:
    record_escalation(log_path, kind="oidc_regression", detail="x", clock=clock)

    entry = lines_of(log_path)[0]
    assert "mac" not in entry
    assert "key_id" not in entry
    assert ApprovalLog.load(log_path).protection.startswith(UNKEYED)
    assert UNKEYED == "unkeyed: detects accidents, not tampering"


def test_an_unkeyed_log_is_refused_once_a_key_is_set(log_path: Path, clock: ManualClock) -> None:
    record_escalation(log_path, kind="oidc_regression", detail="x", clock=clock)
    with pytest.raises(ApprovalLogError, match="no MAC, but HITL_LOG_KEY is set"):
        record_escalation(log_path, kind="oidc_regression", detail="y", clock=clock, keys=keys())


def test_snapshots_for_workers_verify_the_macs(log_path: Path, clock: ManualClock) -> None:
    three_entry_log(log_path, clock, keys())
    data = ApprovalLog.load(log_path, keys()).to_json()
    assert ApprovalLog.from_json(data, keys()) == ApprovalLog.load(log_path, keys())

    data["entries"][1]["test_id"] = "t::evil"
    rehash(data["entries"])
    data["head"] = data["entries"][-1]["hash"]
    with pytest.raises(ApprovalLogError, match="line 2: MAC does not match"):
        ApprovalLog.from_json(data, keys())


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({KEY_ENV: "Zq7x9"}, "shorter than 16 bytes"),
        ({KEY_ENV: KEY, PREVIOUS_KEYS_ENV: "tiny"}, "shorter than 16 bytes"),
        ({PREVIOUS_KEYS_ENV: OLD_KEY}, f"{PREVIOUS_KEYS_ENV} is set but {KEY_ENV} is not"),
    ],
)
def test_bad_key_settings_are_one_line_naming_the_variable_never_the_value(
    log_path: Path, monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], message: str
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(ApprovalLogError, match=message) as caught:
        ApprovalLog.load(log_path)
    text = str(caught.value)
    assert text.startswith(f"HITL approvals log {log_path}: ")
    assert all(value not in text for value in environ.values())


def test_an_empty_key_variable_is_unset() -> None:
    assert not LogKeys.from_environ({KEY_ENV: "", PREVIOUS_KEYS_ENV: ""}).keyed


def test_keys_never_show_their_values() -> None:
    log_keys = keys(KEY, OLD_KEY)
    assert KEY not in repr(log_keys)
    assert OLD_KEY not in repr(log_keys)
    assert KEY not in log_keys.describe()
