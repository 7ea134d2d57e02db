"""The plugin's clients against prod_observe: a check marked ``hitl(gate="prod_write")``
under an approval sends its synthetic write, logged in the HITL log and listed by the run
record; any other check's synthetic write is refused before sending, naming the gate."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from secondconf.cli.hitl import main as hitl_main
from secondconf.core.clock import SystemClock
from secondconf.hitl.keys import KEY_ENV, PREVIOUS_KEYS_ENV
from secondconf.hitl.log import ApprovalLog, append_approval

from tests.plugin.pytester_helpers import system_map_json

LOG = "tests/perf/reports/hitl_approvals.log"

CHECKS = """
import pytest
from secondconf.contract.platform import SyntheticIdentity
from secondconf.target.client import ProductionWriteRefused, synthetic_headers

URL = {url!r} + "/v1/work?note=private"


def write(client):
    headers = synthetic_headers(SyntheticIdentity.STUDENT, idempotency_key="key-1")
    return client.post(URL, headers=headers, json={{"kind": "explain"}})


@pytest.mark.prod_safe
@pytest.mark.hitl(gate="prod_write")
def test_approved_write(sync_client):
    assert write(sync_client).status_code == 201


@pytest.mark.prod_safe
def test_unapproved_write(sync_client):
    with pytest.raises(ProductionWriteRefused, match="prod_write"):
        write(sync_client)
"""


class Seen(BaseHTTPRequestHandler):
    posts: ClassVar[list[str]] = []

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def do_GET(self) -> None:
        self._answer(200)

    def do_POST(self) -> None:
        self.posts.append(self.path)
        self._answer(201)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def prod_map(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A prod_observe map whose apps all live on a loopback server that counts POSTs."""
    Seen.posts = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Seen)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for name in (KEY_ENV, PREVIOUS_KEYS_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("A8_TELEMETRY_KEY", "not-a-real-key")
    url = f"http://127.0.0.1:{server.server_address[1]}"
    pytester.makefile(".json", system_map=json.dumps(system_map_json(url, "prod_observe")))
    yield url
    server.shutdown()
    server.server_close()


def test_only_an_approved_prod_write_check_writes_and_each_write_is_logged(
    pytester: pytest.Pytester, prod_map: str
) -> None:
    log_path = Path(pytester.path, LOG)
    log_path.parent.mkdir(parents=True)
    clock = SystemClock()
    approval = append_approval(
        log_path,
        who="alice",
        gate="prod_write",
        env="prod_observe",
        reason="release 42",
        expires_at=clock.now() + timedelta(hours=1),
        clock=clock,
    )
    pytester.makepyfile(test_writes=CHECKS.format(url=prod_map))

    result = pytester.runpytest("-p", "no:xdist", "--system-map", "system_map.json")

    result.assert_outcomes(passed=2)
    assert Seen.posts == ["/v1/work?note=private"]  # the approved one, and only it
    log = ApprovalLog.load(log_path)
    assert [u.test_id for u in log.uses] == ["test_writes.py::test_approved_write"]
    (write,) = [a for a in log.actions if a.what.startswith("prod_write ")]
    assert write.env == "prod_observe"
    assert write.what.startswith("prod_write POST /v1/work trace ")
    assert write.what.endswith(f" as test_student_e2e_01 under approval {approval.short_id}")
    assert "private" not in log_path.read_text()
    assert log.runs[-1].record["prod_writes"] == [f"{write.app} {write.what[len('prod_write ') :]}"]
    assert hitl_main(["verify", "--log", str(log_path)]) == 0
