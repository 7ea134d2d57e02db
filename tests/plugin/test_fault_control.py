"""Contract §9: every fault switch, clock move and rollback the harness makes is told to the
control's recorder first and appended to the HITL log as an action; in staging only under
an inject_503 approval, in prod_observe never."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from secondconf.core.clock import ManualClock
from secondconf.hitl.actions import FAULT_GATE, ActionLog
from secondconf.hitl.keys import KEY_ENV, PREVIOUS_KEYS_ENV
from secondconf.hitl.log import ApprovalLog, ApprovalLogError, append_approval
from secondconf.target.control import ActionRecorder, ControlError, TargetControl

START = datetime(2026, 1, 1, tzinfo=UTC)
LOG = "tests/perf/reports/hitl_approvals.log"


@pytest.fixture(autouse=True)
def unkeyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(PREVIOUS_KEYS_ENV, raising=False)


class OfflineControl(TargetControl):
    """A control that notes each request instead of sending it."""

    def _post(self, app_id: str, path: str, body: Any) -> Any:
        self.sent.append(f"POST {app_id} {path} {json.dumps(body, sort_keys=True)}")
        return {"kid": "k2"}

    def _delete(self, app_id: str, path: str) -> None:
        self.sent.append(f"DELETE {app_id} {path}")

    @property
    def sent(self) -> list[str]:
        return self.system_map.sent  # type: ignore[attr-defined, no-any-return]


def offline(recorder: ActionRecorder) -> OfflineControl:
    apps = {f"A{i}": None for i in range(1, 9)}
    system_map: Any = SimpleNamespace(
        env="embedded", identity_app_id="A1", telemetry_app_id="A8", apps=apps, sent=[]
    )
    return OfflineControl(system_map, "not-a-token", recorder)  # type: ignore[arg-type]


class Recorder:
    def __init__(self, refuse: bool = False) -> None:
        self.calls: list[tuple[str, str, bool]] = []
        self.refuse = refuse

    def __call__(self, app_id: str, what: str, *, rollback: bool) -> None:
        self.calls.append((app_id, what, rollback))
        if self.refuse:
            raise ControlError("refused")


# --- TargetControl tells its recorder first ------------------------------------------------


def test_a_clock_move_and_its_rollback_are_recorded_before_they_are_sent() -> None:
    recorder = Recorder()
    control = offline(recorder)

    with control.clock_offset("A8", 901.0):
        assert recorder.calls == [("A8", 'set faults {"clock_offset_s":901.0}', False)]
        assert control.sent == ['POST A8 /_admin/faults {"clock_offset_s": 901.0}']

    assert recorder.calls[1] == ("A8", 'set faults {"clock_offset_s":0.0}', True)
    assert control.sent[1] == 'POST A8 /_admin/faults {"clock_offset_s": 0.0}'


def test_the_platform_clock_moves_every_app_but_a8_and_comes_back_whole() -> None:
    """A TTL crossed on one app alone splits the platform: A5's expired key still lives in
    A4, which refuses A5's next call under the key derived from it."""
    control = offline(Recorder())
    platform = [f"A{i}" for i in range(1, 8)]

    with control.platform_clock_offset(910.0):
        assert control.sent == [
            f'POST {a} /_admin/faults {{"clock_offset_s": 910.0}}' for a in platform
        ]
        control.move_platform_clock(1900.0)

    assert control.sent[-7:] == [
        f'POST {a} /_admin/faults {{"clock_offset_s": 0.0}}' for a in platform
    ]
    assert not any(" A8 " in line for line in control.sent)


def test_every_app_clock_is_put_back_even_when_one_rollback_fails() -> None:
    class OneAppDown(OfflineControl):
        def _post(self, app_id: str, path: str, body: Any) -> Any:
            if app_id == "A3" and body == {"clock_offset_s": 0.0}:
                raise ControlError("A3 /_admin/faults: unreachable")
            return super()._post(app_id, path, body)

    system_map: Any = SimpleNamespace(
        env="embedded",
        identity_app_id="A1",
        telemetry_app_id="A8",
        apps={f"A{i}": None for i in range(1, 9)},
        sent=[],
    )
    control = OneAppDown(system_map, "not-a-token")  # type: ignore[arg-type]

    with pytest.raises(ControlError, match="A3"), control.platform_clock_offset(910.0):
        pass

    resets = [line for line in control.sent if line.endswith('{"clock_offset_s": 0.0}')]
    assert [line.split()[1] for line in resets] == ["A1", "A2", "A4", "A5", "A6", "A7"]


def test_faults_clear_faults_and_key_rotation_are_recorded() -> None:
    recorder = Recorder()
    control = offline(recorder)

    with control.faults(("A2", "A3"), {"rule_off": "dedupe"}):
        pass
    control.rotate_signing_key()

    assert recorder.calls == [
        ("A2", 'set faults {"rule_off":"dedupe"}', False),
        ("A3", 'set faults {"rule_off":"dedupe"}', False),
        ("A2", "clear faults", True),
        ("A3", "clear faults", True),
        ("A1", "rotate signing key", False),
    ]
    assert len(control.sent) == 5


def test_a_refused_change_is_not_sent_but_its_rollback_still_is() -> None:
    control = offline(Recorder(refuse=True))

    with pytest.raises(ControlError, match="refused"), control.clock_offset("A8", 901.0):
        pass  # never reached: the move is refused

    assert control.sent == ['POST A8 /_admin/faults {"clock_offset_s": 0.0}']  # rollback only


def test_the_default_recorder_records_nothing() -> None:
    system_map: Any = SimpleNamespace(env="embedded", identity_app_id="A1", sent=[])
    control = OfflineControl(system_map, "not-a-token")  # type: ignore[arg-type]

    control.set_faults("A4", {"latency_ms": 50})

    assert control.sent == ['POST A4 /_admin/faults {"latency_ms": 50}']
    assert "recorder" not in repr(control)


# --- ActionLog: the recorder that writes the HITL log --------------------------------------


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def test_embedded_changes_are_logged_as_harness_actions(tmp_path: Path, clock: ManualClock) -> None:
    log_path = tmp_path / "hitl.log"
    control = offline(ActionLog(log_path, "embedded", clock, "suites/t.py::test_ttl"))

    with control.clock_offset("A8", 901.0):
        clock.advance(5)

    actions = ApprovalLog.load(log_path).actions
    assert [(a.who, a.what, a.app, a.env, a.at) for a in actions] == [
        ("harness", 'set faults {"clock_offset_s":901.0}', "A8", "embedded", START),
        (
            "harness",
            'set faults {"clock_offset_s":0.0} (rollback)',
            "A8",
            "embedded",
            START + timedelta(seconds=5),
        ),
    ]


def staging_approval(log_path: Path, clock: ManualClock, hours: float = 1) -> Any:
    return append_approval(
        log_path,
        who="qa-lead",
        gate=FAULT_GATE,
        env="staging",
        reason="TTL drill",
        expires_at=clock.now() + timedelta(hours=hours),
        clock=clock,
    )


def test_staging_logs_one_use_of_the_approval_before_its_first_change(
    tmp_path: Path, clock: ManualClock
) -> None:
    log_path = tmp_path / "hitl.log"
    approval = staging_approval(log_path, clock)
    control = offline(ActionLog(log_path, "staging", clock, "suites/t.py::test_ttl", approval))

    with control.clock_offset("A3", 901.0):
        control.set_faults("A3", {"clock_offset_s": 1900.0})

    log = ApprovalLog.load(log_path)
    assert [e["kind"] for e in log.entries] == ["approval", "use", "action", "action", "action"]
    assert [(u.approval_id, u.test_id) for u in log.uses] == [
        (approval.id, "suites/t.py::test_ttl")
    ]
    assert {a.env for a in log.actions} == {"staging"}


def test_no_change_under_an_expired_approval_but_the_rollback_is_made(
    tmp_path: Path, clock: ManualClock
) -> None:
    log_path = tmp_path / "hitl.log"
    approval = staging_approval(log_path, clock, hours=1)
    control = offline(ActionLog(log_path, "staging", clock, "t::x", approval))

    def move_twice() -> None:
        with control.clock_offset("A3", 901.0):
            clock.advance(3600)
            control.set_faults("A3", {"clock_offset_s": 1900.0})

    with pytest.raises(ValueError, match="expired at 2026-01-01T01:00:00Z: no further change"):
        move_twice()

    assert control.sent == [
        'POST A3 /_admin/faults {"clock_offset_s": 901.0}',
        'POST A3 /_admin/faults {"clock_offset_s": 0.0}',
    ]
    assert ApprovalLog.load(log_path).actions[-1].what.endswith("(rollback)")


def test_an_approval_expired_before_the_first_change_refuses_it(
    tmp_path: Path, clock: ManualClock
) -> None:
    log_path = tmp_path / "hitl.log"
    approval = staging_approval(log_path, clock, hours=1)
    clock.advance(7200)
    control = offline(ActionLog(log_path, "staging", clock, "t::x", approval))

    with pytest.raises(ValueError, match="t::x may not run"):
        control.set_faults("A3", {"clock_offset_s": 901.0})
    assert control.sent == []


def test_a_tampered_log_refuses_the_change(tmp_path: Path, clock: ManualClock) -> None:
    log_path = tmp_path / "hitl.log"
    staging_approval(log_path, clock)
    log_path.write_text(log_path.read_text().replace("TTL drill", "anything"))
    control = offline(ActionLog(log_path, "embedded", clock, "t::x"))

    with pytest.raises(ApprovalLogError, match="hash does not match"):
        control.set_faults("A8", {"clock_offset_s": 901.0})
    assert control.sent == []


# --- the fault_control fixture --------------------------------------------------------------

CONFTEST = """
import json
from types import SimpleNamespace

import pytest
from secondconf.target.control import TargetControl

class OfflineControl(TargetControl):
    def _post(self, app_id, path, body):
        self.system_map.sent.append(f"POST {app_id} {path} {json.dumps(body)}")
        return {}

    def _delete(self, app_id, path):
        self.system_map.sent.append(f"DELETE {app_id} {path}")

SENT = []

@pytest.fixture
def target():
    system_map = SimpleNamespace(env="{env}", identity_app_id="A1", sent=SENT)
    return SimpleNamespace(fault_controls=OfflineControl(system_map, "not-a-token"))

@pytest.fixture
def sent():
    return SENT
"""

MOVES_THE_CLOCK = """
def test_moves_the_clock(fault_control, sent):
    assert fault_control is not None
    with fault_control.clock_offset("A8", 901.0):
        pass
    assert len(sent) == 2
"""

GETS_NO_CONTROL = """
def test_gets_no_control(fault_control, sent):
    assert fault_control is None
    assert sent == []
"""


def run_inner(pytester: pytest.Pytester, env: str, test: str, *args: str) -> None:
    pytester.makeconftest(CONFTEST.replace("{env}", env))
    pytester.makepyfile(test)
    pytester.runpytest("-p", "no:xdist", *args).assert_outcomes(passed=1)


def test_embedded_a_clock_move_appends_action_entries(pytester: pytest.Pytester) -> None:
    run_inner(pytester, "embedded", MOVES_THE_CLOCK)

    log = ApprovalLog.load(pytester.path / LOG)
    assert [(a.who, a.what, a.app, a.env) for a in log.actions] == [
        ("harness", 'set faults {"clock_offset_s":901.0}', "A8", "embedded"),
        ("harness", 'set faults {"clock_offset_s":0.0} (rollback)', "A8", "embedded"),
    ]
    assert log.uses == ()  # embedded needs no approval


def staging_map(pytester: pytest.Pytester, reachable_map: str, env: str) -> str:
    data = json.loads((pytester.path / reachable_map).read_text())
    data["env"] = env
    (pytester.path / f"{env}_map.json").write_text(json.dumps(data))
    return f"{env}_map.json"


def test_staging_without_an_inject_503_approval_moves_no_clock(
    pytester: pytest.Pytester, reachable_map: str
) -> None:
    run_inner(pytester, "staging", GETS_NO_CONTROL, "--system-map", reachable_map)

    assert not (pytester.path / LOG).exists()  # nothing logged, nothing moved


def test_staging_with_an_approval_of_another_gate_or_too_long_moves_no_clock(
    pytester: pytest.Pytester, reachable_map: str
) -> None:
    for gate, days in (("prod_write", 1), (FAULT_GATE, 10)):
        append_approval(
            pytester.path / LOG,
            who="qa-lead",
            gate=gate,
            env="staging",
            reason="not this one",
            expires_at=datetime.now(UTC) + timedelta(days=days),
            clock=ManualClock(datetime.now(UTC)),
            max_length=timedelta(days=days),
        )

    run_inner(pytester, "staging", GETS_NO_CONTROL, "--system-map", reachable_map)

    assert ApprovalLog.load(pytester.path / LOG).actions == ()


def test_staging_under_an_inject_503_approval_moves_the_clock_and_logs_it(
    pytester: pytest.Pytester, reachable_map: str
) -> None:
    approval = append_approval(
        pytester.path / LOG,
        who="qa-lead",
        gate=FAULT_GATE,
        env="staging",
        reason="TTL drill",
        expires_at=datetime.now(UTC) + timedelta(hours=1),
        clock=ManualClock(datetime.now(UTC)),
    )

    run_inner(pytester, "staging", MOVES_THE_CLOCK, "--system-map", reachable_map)

    log = ApprovalLog.load(pytester.path / LOG)
    assert [u.approval_id for u in log.uses] == [approval.id]
    assert [(a.what, a.env) for a in log.actions] == [
        ('set faults {"clock_offset_s":901.0}', "staging"),
        ('set faults {"clock_offset_s":0.0} (rollback)', "staging"),
    ]


def test_prod_observe_never_gets_control_even_with_an_approval(
    pytester: pytest.Pytester, reachable_map: str
) -> None:
    prod_map = staging_map(pytester, reachable_map, "prod_observe")
    append_approval(
        pytester.path / LOG,
        who="qa-lead",
        gate=FAULT_GATE,
        env="prod_observe",
        reason="never honoured",
        expires_at=datetime.now(UTC) + timedelta(hours=1),
        clock=ManualClock(datetime.now(UTC)),
    )

    run_inner(pytester, "prod_observe", GETS_NO_CONTROL, "--system-map", prod_map)

    assert ApprovalLog.load(pytester.path / LOG).actions == ()
