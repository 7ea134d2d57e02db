"""``prod_write``: against ``prod_observe`` a synthetic write goes out only under a logged
approval, and each one is an entry of the HITL log that ``secondconf-hitl verify`` accepts."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from secondconf.cli.hitl import main as hitl_main
from secondconf.contract.platform import SyntheticIdentity
from secondconf.contract.traceids import new_idempotency_key, new_trace_id
from secondconf.core.clock import ManualClock
from secondconf.hitl.log import (
    Approval,
    ApprovalLog,
    append_approval,
    record_run,
)
from secondconf.hitl.prod_writes import ProdWriteLog
from secondconf.hitl.run_record import RunSummary, build_record
from secondconf.target.client import (
    ProdObserveGuard,
    ProductionWriteRefused,
    RequestPolicy,
    add_trace_id,
    synthetic_headers,
)
from secondconf.target.write_gate import ProdWriteGate, app_of_map

from tests.plugin.system_maps import system_map_at

BEARER = "Bearer not-a-real-token-but-secret-all-the-same"
A4 = "https://a4.test"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "hitl_approvals.log"


def approve(log_path: Path, clock: ManualClock, *, gate: str = "prod_write") -> Approval:
    return append_approval(
        log_path,
        who="alice",
        gate=gate,
        env="prod_observe",
        reason="release 42: one synthetic write",
        expires_at=clock.now() + timedelta(hours=1),
        clock=clock,
    )


def client(gate: ProdWriteGate | None, sent: list[httpx.Request]) -> httpx.Client:
    """The guard as the harness installs it, the network replaced by a list."""

    def network(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(201, json={"ok": True})

    guard = ProdObserveGuard(httpx.MockTransport(network), RequestPolicy("prod_observe"), gate)
    return httpx.Client(transport=guard, event_hooks={"request": [add_trace_id]})


def gate_for(log_path: Path, clock: ManualClock, approval: Approval | None) -> ProdWriteGate:
    log = ProdWriteLog(log_path, clock, "suites/test_x.py::test_write", approval)
    return ProdWriteGate(log, app_of_map(system_map_at({"A4": A4}, env="prod_observe")))


def synthetic_write(http: httpx.Client, trace_id: str) -> httpx.Response:
    headers = synthetic_headers(SyntheticIdentity.STUDENT, idempotency_key=new_idempotency_key())
    return http.post(
        f"{A4}/v1/work?note=private",
        headers=headers | {"X-Trace-Id": trace_id, "Authorization": BEARER},
        json={"kind": "essay_feedback"},
    )


def test_without_an_approval_a_synthetic_write_is_refused_naming_the_gate(
    log_path: Path, clock: ManualClock
) -> None:
    approve(log_path, clock, gate="inject_503")  # another gate's approval does not count
    sent: list[httpx.Request] = []
    refusal = pytest.raises(ProductionWriteRefused, match="HITL gate 'prod_write' not approved")
    with client(gate_for(log_path, clock, None), sent) as http, refusal:
        synthetic_write(http, new_trace_id())
    assert sent == []
    assert ApprovalLog.load(log_path).actions == ()


def test_an_approved_write_is_sent_and_logged_by_name_never_a_secret(
    log_path: Path, clock: ManualClock
) -> None:
    approval = approve(log_path, clock)
    sent: list[httpx.Request] = []
    trace_id = new_trace_id()
    with client(gate_for(log_path, clock, approval), sent) as http:
        assert synthetic_write(http, trace_id).status_code == 201
    assert len(sent) == 1
    log = ApprovalLog.load(log_path)
    assert [(u.gate, u.env, u.test_id) for u in log.uses] == [
        ("prod_write", "prod_observe", "suites/test_x.py::test_write")
    ]
    (action,) = log.actions
    assert (action.app, action.env, action.who) == ("A4", "prod_observe", "harness")
    assert action.what == (
        f"prod_write POST /v1/work trace {trace_id} as test_student_e2e_01"
        f" under approval {approval.short_id}"
    )
    text = log_path.read_text()
    for secret in ("not-a-real-token", sent[0].headers["X-Idempotency-Key"], "private"):
        assert secret not in text
    assert hitl_main(["verify", "--log", str(log_path)]) == 0


def test_the_run_record_lists_prod_writes_apart_from_faults(
    log_path: Path, clock: ManualClock
) -> None:
    approval = approve(log_path, clock)
    trace_id = new_trace_id()
    with client(gate_for(log_path, clock, approval), []) as http:
        synthetic_write(http, trace_id)
    summary = RunSummary("run1", "s", "e", "GATE PASSED", 1)
    record = build_record(summary, ApprovalLog.load(log_path))
    assert record["faults_injected"] == []
    assert record["apps_left_faulted"] == []
    assert record["prod_writes"] == [
        f"A4 POST /v1/work trace {trace_id} as test_student_e2e_01"
        f" under approval {approval.short_id}"
    ]
    record_run(log_path, run_id="run1", record=record, clock=clock)
    assert hitl_main(["verify", "--log", str(log_path)]) == 0


def test_an_expired_approval_lets_no_further_write_go(log_path: Path, clock: ManualClock) -> None:
    approval = approve(log_path, clock)
    sent: list[httpx.Request] = []
    with client(gate_for(log_path, clock, approval), sent) as http:
        synthetic_write(http, new_trace_id())
        clock.advance(3601)
        with pytest.raises(ProductionWriteRefused, match="expired"):
            synthetic_write(http, new_trace_id())
    assert len(sent) == 1
    assert len(ApprovalLog.load(log_path).actions) == 1


def test_a_write_to_no_app_of_the_map_is_refused(log_path: Path, clock: ManualClock) -> None:
    sent: list[httpx.Request] = []
    refusal = pytest.raises(ProductionWriteRefused, match="no app of the system map")
    with client(gate_for(log_path, clock, approve(log_path, clock)), sent) as http, refusal:
        http.post(
            "https://elsewhere.test/v1/x",
            headers=synthetic_headers("test_student_e2e_01", idempotency_key="k1"),
        )
    assert sent == []


def test_an_approval_of_another_gate_cannot_back_the_log(
    log_path: Path, clock: ManualClock
) -> None:
    with pytest.raises(ValueError, match="not prod_write/prod_observe"):
        ProdWriteLog(log_path, clock, "t", approve(log_path, clock, gate="inject_503"))


def test_a_prod_write_entry_edited_after_the_run_fails_verify(
    log_path: Path, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    approval = approve(log_path, clock)
    with client(gate_for(log_path, clock, approval), []) as http:
        synthetic_write(http, new_trace_id())
    lines = log_path.read_text().splitlines()
    entry = json.loads(lines[-1])
    entry["what"] = entry["what"].replace("POST", "GET")  # hide that it was a write
    lines[-1] = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    log_path.write_text("\n".join(lines) + "\n")
    assert hitl_main(["verify", "--log", str(log_path)]) == 1
    assert "line 3: hash does not match" in capsys.readouterr().err


_WRITER = """
import sys
from pathlib import Path
from secondconf.core.clock import SystemClock
from secondconf.hitl.log import ApprovalLog
from secondconf.hitl.prod_writes import ProdWriteLog, SyntheticWrite

path, name = Path(sys.argv[1]), sys.argv[2]
approval = ApprovalLog.load(path).approvals[0]
log = ProdWriteLog(path, SystemClock(), name, approval)
for n in range(15):
    log(SyntheticWrite("POST", "A4", f"/v1/work/{name}/{n}", "4bf92f3577b34da6a3ce929d0e0e4736",
                       "test_student_e2e_01"))
"""


def test_concurrent_writers_never_tear_the_log(log_path: Path) -> None:
    """Three processes (as xdist workers would) log their writes at once."""
    from secondconf.core.clock import SystemClock

    approve(log_path, ManualClock(SystemClock().now()))
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(log_path), f"w{n}"], text=True)
        for n in range(3)
    ]
    for writer in writers:
        assert writer.wait(timeout=60) == 0
    log = ApprovalLog.load(log_path)
    assert len(log.uses) == 3
    assert len(log.actions) == 45
    assert [e["seq"] for e in log.entries] == list(range(49))
    assert hitl_main(["verify", "--log", str(log_path)]) == 0
