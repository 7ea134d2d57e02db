"""Distributed load: locust's master and two workers on loopback, and a run whose parts do
not add up is refused.

The target is a small threaded HTTP server answering every app's ``/health`` and
``/ready`` (and A1's OIDC reads): what is under test is the distribution, not an app.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from secondconf.checks.load.locust import (
    BaselineError,
    EndpointStats,
    _worker_totals,
    baseline_locustfile,
    locust_bin,
    run_locust,
)
from secondconf.contract.platform import APP_IDS
from secondconf.core.clock import SystemClock

# Alone, not beside other tests: under CI's parallel load (load average 13-16) the master
# counted 38 requests and its workers 78 (locust's last stats report lost in the queue).
pytestmark = pytest.mark.serial

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def system_map(tmp_path: Path) -> Iterator[Path]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    path = tmp_path / "system_map.json"
    apps = {app: {"base_url": base, "health": "/health", "ready": "/ready"} for app in APP_IDS}
    path.write_text(json.dumps({"env": "embedded", "apps": apps}))
    yield path
    server.shutdown()
    server.server_close()


def test_two_workers_on_loopback_and_the_totals_are_their_sum(
    system_map: Path, tmp_path: Path
) -> None:
    endpoints, run = run_locust(
        locust_bin(PROJECT_ROOT),
        baseline_locustfile(PROJECT_ROOT),
        system_map,
        None,
        users=4,
        spawn_rate=4,
        duration_s=4,
        rate_per_user=5,
        out_dir=tmp_path / "out",
        clock=SystemClock(),
        workers=2,
    )
    total = sum(e.num_requests for e in endpoints.values())
    assert len(run.workers) == 2
    assert all(int(w["requests"]) > 0 for w in run.workers)  # both did work
    assert sum(int(w["requests"]) for w in run.workers) == total
    assert "--master" in run.command
    assert "--master-bind-host" in run.command
    assert run.command[run.command.index("--master-bind-host") + 1] == "127.0.0.1"
    assert run.to_dict()["workers"] == [dict(w) for w in run.workers]


def _stats(requests: int) -> dict[str, EndpointStats]:
    return {"A1 /health": EndpointStats("A1 /health", "GET", requests, 0, 0, {1: requests}, 1.0)}


def test_a_master_whose_workers_do_not_add_up_is_refused(tmp_path: Path) -> None:
    for name, requests in (("w1", 10), ("w2", 5)):
        (tmp_path / f"{name}.json").write_text(json.dumps({"worker": name, "requests": requests}))
    assert len(_worker_totals(tmp_path, 2, _stats(15))) == 2
    with pytest.raises(BaselineError, match="master counted 16 requests, its workers 15"):
        _worker_totals(tmp_path, 2, _stats(16))
    with pytest.raises(BaselineError, match="3 workers expected, 2 reported"):
        _worker_totals(tmp_path, 3, _stats(15))
