"""The HITL log's free-text fields (a use's test id, an escalation's detail): non-empty
UTF-8, refused with one line naming the field before anything is written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from secondconf.core.clock import ManualClock
from secondconf.hitl.keys import KEY_ENV, PREVIOUS_KEYS_ENV
from secondconf.hitl.log import ApprovalLog, append_approval, record_escalation, record_use

CLOCK = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
REFUSED = [("", "must be a non-empty string"), ("  ", "must be a non-empty string")]
REFUSED += [("bad \udcff", "is not valid Unicode text")]


@pytest.fixture(autouse=True)
def unkeyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(PREVIOUS_KEYS_ENV, raising=False)


@pytest.mark.parametrize(("test_id", "says"), REFUSED)
def test_a_use_needs_a_test_id(tmp_path: Path, test_id: str, says: str) -> None:
    log = tmp_path / "hitl.log"
    approval = append_approval(
        log,
        who="alice",
        gate="inject_503",
        env="staging",
        reason="drills",
        expires_at=CLOCK.now() + timedelta(hours=1),
        clock=CLOCK,
    )

    with pytest.raises(ValueError, match=f"^test_id {says}$"):
        record_use(log, approval, test_id=test_id, clock=CLOCK)
    assert ApprovalLog.load(log).uses == ()


@pytest.mark.parametrize(("detail", "says"), REFUSED)
def test_an_escalation_needs_a_detail(tmp_path: Path, detail: str, says: str) -> None:
    with pytest.raises(ValueError, match=f"^detail {says}$"):
        record_escalation(tmp_path / "hitl.log", kind="oidc_regression", detail=detail, clock=CLOCK)
    assert not (tmp_path / "hitl.log").exists()


def test_an_escalation_detail_may_span_lines(tmp_path: Path) -> None:
    detail = "CK-01 FAIL\n  - cookie without Secure"
    escalation = record_escalation(
        tmp_path / "hitl.log", kind="oidc_regression", detail=detail, clock=CLOCK
    )
    assert escalation.detail == detail
