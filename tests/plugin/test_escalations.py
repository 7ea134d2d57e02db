"""Contract §13 escalations and the run record every gate run appends to the HITL log.

Each trigger produces its log entry and its webhook post (PagerDuty Events API v2 shape,
to a loopback receiver); a schema mismatch pages only once the same mismatch has been
seen in more than two runs; the webhook URL and routing key are never printed; the log
verifies after a run and a tampered one does not; concurrent writers never tear it.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from secondconf.cli.hitl import main as hitl_main
from secondconf.contract.catalog import CATALOG, ESCALATIONS
from secondconf.core.clock import SystemClock
from secondconf.hitl.escalations import RuleFailure, pages_for, schema_mismatches
from secondconf.hitl.keys import KEY_ENV, PREVIOUS_KEYS_ENV
from secondconf.hitl.log import ApprovalLog, record_action, record_run
from secondconf.hitl.pager import ROUTING_KEY_ENV

LOG = "tests/perf/reports/hitl_approvals.log"
WEBHOOK_TOKEN = "whk-token-0f9e8d7c6b5a49382716"
ROUTING_KEY = "routing-key-1a2b3c4d5e6f7a8b9c0d"


@pytest.fixture(autouse=True)
def unkeyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(PREVIOUS_KEYS_ENV, raising=False)


def failing_check(rule_id: str, violation: str) -> str:
    row = CATALOG[rule_id]
    return f"""
import pytest
from secondconf.contract.catalog import rule_by_id
from secondconf.engine.rules import rule_verdict

@pytest.mark.second_confirmation
@pytest.mark.{row.marker}
@pytest.mark.rules({rule_id!r})
def test_rule(record_verdict):
    record_verdict(rule_verdict(rule_by_id({rule_id!r}), "A1", cases=3, violations=[{violation!r}]))
"""


class Receiver:
    """A loopback incident webhook: keeps every JSON body posted to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(202)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v2/enqueue?token={WEBHOOK_TOKEN}"


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    monkeypatch.setenv(ROUTING_KEY_ENV, ROUTING_KEY)
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


# --- which failures page -----------------------------------------------------------------


def test_every_escalation_kind_is_named_by_a_rule_of_the_catalogue() -> None:
    named = {row.escalates for row in CATALOG.values()}
    assert {"oidc_regression", "schema_mismatch"} <= named
    assert named - {None} <= set(ESCALATIONS)
    assert {r for r, row in CATALOG.items() if row.escalates == "oidc_regression"} == {
        r for r in CATALOG if r.startswith(("CK-", "OIDC-"))
    }


def test_a_schema_mismatch_pages_only_when_seen_in_more_than_two_runs() -> None:
    failure = RuleFailure(
        "TEL-01", "t", "x", ("p95_ms: absent in 12 of 40 http_request event(s) (e.g. A2 /h)",)
    )
    mismatch = "TEL-01 p95_ms: absent in N of N http_request event(s)"
    assert schema_mismatches([failure]) == [mismatch]
    assert pages_for([failure], []) == []
    assert pages_for([failure], [[mismatch]]) == []
    assert pages_for([failure], [["another"], [mismatch]]) == []
    (page,) = pages_for([failure], [[mismatch], [mismatch]])
    assert (page.escalation, page.seen_in_runs) == ("schema_mismatch", 3)


def test_other_triggers_page_on_their_first_fail() -> None:
    (page,) = pages_for([RuleFailure("OIDC-38", "t::x", "A1 OIDC-38 FAIL", ("v",))], [])
    assert page.escalation == "oidc_regression"
    assert (
        page.dedup_key == pages_for([RuleFailure("OIDC-38", "t::x", "other", ())], [])[0].dedup_key
    )


# --- a gate run ---------------------------------------------------------------------------


def test_a_failing_oidc_check_is_logged_paged_posted_and_the_run_recorded(
    pytester: pytest.Pytester, receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(failing_check("OIDC-38", "https://evil.example/cb accepted"))

    result = pytester.runpytest("-p", "no:xdist", f"--escalation-webhook={receiver.url}")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    output = result.stdout.str() + result.stderr.str()
    assert WEBHOOK_TOKEN not in output
    assert ROUTING_KEY not in output
    result.stdout.fnmatch_lines(
        [
            "PAGE: 1 escalation(s) (contract §13), webhook posted 1 of 1",
            "  oidc_regression: OIDC-38 failed in test_a_failing*::test_rule: A1 OIDC-38*FAIL*",
        ]
    )
    log = ApprovalLog.load(pytester.path / LOG)
    (escalation,) = log.escalations
    assert escalation.kind == "oidc_regression"
    (run,) = log.runs
    assert run.record["result"] == "FAILED"
    assert run.record["escalations"][0]["escalation"] == "oidc_regression"
    assert run.record["webhook"] == "posted 1 of 1"
    (body,) = receiver.bodies
    assert body["routing_key"] == ROUTING_KEY
    assert body["event_action"] == "trigger"
    assert body["dedup_key"] == run.record["escalations"][0]["dedup_key"]
    payload = body["payload"]
    assert payload["summary"].startswith("[oidc_regression] OIDC-38 failed in ")
    assert (payload["source"], payload["severity"]) == ("secondconf gate (embedded)", "critical")
    assert payload["custom_details"]["rule"] == "OIDC-38"
    assert hitl_main(["verify", "--log", str(pytester.path / LOG)]) == 0
    assert hitl_main(["list", "--log", str(pytester.path / LOG)]) == 0
    assert "runs: 1 (one record per gate run)\n  last: FAILED at " in capsys.readouterr().out


def test_a_schema_mismatch_pages_on_the_third_run_that_sees_it(
    pytester: pytest.Pytester, receiver: Receiver
) -> None:
    pytester.makepyfile(failing_check("TEL-01", "p95_ms: absent in 3 of 9 http_request event(s)"))
    posted = []
    for _ in range(3):
        pytester.runpytest("-p", "no:xdist", f"--escalation-webhook={receiver.url}")
        posted.append(len(receiver.bodies))
    log = ApprovalLog.load(pytester.path / LOG)
    assert posted == [0, 0, 1]
    assert [e.kind for e in log.escalations] == ["schema_mismatch"]
    assert "seen in 3 runs" in log.escalations[0].detail
    assert [len(r.record["schema_mismatches"]) for r in log.runs] == [1, 1, 1]
    assert receiver.bodies[0]["payload"]["severity"] == "warning"


def test_a_clean_run_is_recorded_too_with_its_faults_and_rollbacks(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
import pytest
from secondconf.core.clock import SystemClock
from secondconf.hitl.actions import ActionLog

@pytest.mark.liveness
def test_check(settings):
    log = ActionLog(settings.hitl_log, "embedded", SystemClock(), "t")
    log("A2", 'set faults {"error_503_fraction":0.5}', rollback=False)
    log("A2", "clear faults", rollback=True)
    log("A3", 'set faults {"added_latency_ms":400}', rollback=False)
"""
    )
    result = pytester.runpytest("-p", "no:xdist")
    result.assert_outcomes(passed=1)
    (run,) = ApprovalLog.load(pytester.path / LOG).runs
    record = run.record
    assert record["result"].startswith("PASSED")
    assert record["actions"] == 3
    assert record["faults_rolled_back"] == ["A2 clear faults"]
    assert record["apps_left_faulted"] == ["A3"]
    assert record["escalations"] == []
    assert record["webhook"] == "not configured"
    assert record["started_at"] <= record["ended_at"]


def test_a_log_tampered_after_a_run_fails_verify(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile("import pytest\n\n@pytest.mark.liveness\ndef test_check():\n    pass\n")
    pytester.runpytest("-p", "no:xdist")
    path = pytester.path / LOG
    assert hitl_main(["verify", "--log", str(path)]) == 0
    path.write_text(path.read_text().replace('"checks":1,', '"checks":0,'))
    assert hitl_main(["verify", "--log", str(path)]) == 1
    assert "line 1: hash does not match" in capsys.readouterr().err


def test_a_webhook_that_is_not_a_url_is_one_usage_error_without_its_value(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ROUTING_KEY_ENV, ROUTING_KEY)
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest("-p", "no:xdist", f"--escalation-webhook=ftp:{WEBHOOK_TOKEN}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--escalation-webhook: not an http(s) URL with a host*"])
    assert WEBHOOK_TOKEN not in result.stderr.str() + result.stdout.str()


def test_a_webhook_without_its_routing_key_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ROUTING_KEY_ENV, raising=False)
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest("-p", "no:xdist", "--escalation-webhook=https://pager.invalid/x")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"*--escalation-webhook needs the routing key in {ROUTING_KEY_ENV}"]
    )


# --- concurrent writers -------------------------------------------------------------------


def _append_many(path: str, worker: int) -> None:
    clock = SystemClock()
    for i in range(15):
        if i % 5 == 4:
            record_run(path, run_id=f"w{worker}-{i}", record={"result": "PASSED"}, clock=clock)
        else:
            record_action(path, what=f"w{worker} change {i}", app="A2", env="embedded", clock=clock)


def test_several_processes_appending_at_once_never_tear_the_log(tmp_path: Path) -> None:
    path = tmp_path / "hitl.log"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append_many, args=(str(path), w)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    log = ApprovalLog.load(path)  # verifies the whole chain
    assert (len(log.actions), len(log.runs)) == (48, 12)
    assert hitl_main(["verify", "--log", str(path)]) == 0
