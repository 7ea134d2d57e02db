"""Shared helpers for the plugin's pytester tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# httpx imports its transport stack (httpcore, anyio, h11) on the first request. An
# in-process pytester run drops every module first imported inside it when it ends; the
# next import then makes new exception classes that httpx's error mapping no longer
# recognises, and a refused connection escapes as httpcore.ConnectError. Importing the
# stack here, before any inner run, keeps one copy for the whole worker.
import anyio._backends._asyncio  # noqa: F401
import h11  # noqa: F401
import httpcore
import httpcore._backends.anyio  # noqa: F401

# The same for numpy (under matplotlib, which the report charts import at session end): a
# C extension cannot be imported twice in one process ("cannot load module more than once").
import matplotlib.pyplot  # noqa: F401
import pytest

from tests.plugin.pytester_helpers import system_map_json

# The plugin is registered through its pytest11 entry point, so every inner run loads it.
XDIST_MODES = {
    "no-xdist": ("-p", "no:xdist"),
    "n0": ("-n", "0"),
    "n2": ("-n", "2"),
}


@pytest.fixture(params=list(XDIST_MODES), ids=list(XDIST_MODES))
def xdist_args(request: pytest.FixtureRequest) -> tuple[str, ...]:
    return XDIST_MODES[request.param]


BASE_INI = (
    "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
    "filterwarnings = ignore::pytest.PytestAssertRewriteWarning\n"
)


@pytest.fixture
def pytester(pytester: pytest.Pytester) -> pytest.Pytester:
    """Inner runs get the same quiet asyncio setting as the project (no deprecation warning)."""
    pytester.makeini(BASE_INI)
    return pytester


class _Healthy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}')

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def reachable_map(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A valid system map (file name) whose apps answer /health, with A8's key set."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Healthy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("A8_TELEMETRY_KEY", "not-a-real-key")
    url = f"http://127.0.0.1:{server.server_address[1]}"
    pytester.makefile(".json", system_map=json.dumps(system_map_json(url)))
    yield "system_map.json"
    server.shutdown()
    server.server_close()
