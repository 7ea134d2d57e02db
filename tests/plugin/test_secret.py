"""Secrets are values of a masked type: their repr and str show the name only, the target's
repr shows none, and a check whose token fetch fails under ``--tb=long --showlocals``
(every frame's arguments and locals printed) leaks no secret in any encoding."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from secondconf.checks.safety.secrets_scan import encodings
from secondconf.core.redact import known_secrets
from secondconf.core.secret import Secret
from secondconf.target.deployment import Target, secrets_of

from tests.plugin.pytester_helpers import system_map_json
from tests.plugin.system_maps import system_map_at

# Characters that URL-encoding and JSON-escaping change, so every encoding is distinct.
CLIENT_SECRET = 'oidc/+s3cr3t "q" & ünï-' + "Zq9" * 8
A8_KEY = "a8-key/+" + "Wx7" * 10


def leaks(text: str, *values: str) -> list[str]:
    """The encodings in which any of ``values`` appears in ``text``."""
    data = text.encode("utf-8")
    return [name for value in values for needle, name in encodings(value).items() if needle in data]


def test_a_secret_shows_its_name_and_never_its_value() -> None:
    secret = Secret("OIDC_CLIENT_SECRET", CLIENT_SECRET)
    shown = f"{secret!r} {secret} {secret:} {[secret]} { ({'s': secret}) }"
    assert leaks(shown, CLIENT_SECRET) == []
    assert repr(secret) == "Secret('OIDC_CLIENT_SECRET', '**********')"
    assert str(secret) == "OIDC_CLIENT_SECRET=**********"
    assert secret.reveal() == CLIENT_SECRET


def test_a_secret_registers_its_value_for_redaction() -> None:
    Secret("A8_TELEMETRY_KEY", A8_KEY)
    assert known_secrets()["A8_TELEMETRY_KEY"] == A8_KEY


@pytest.mark.parametrize(("name", "value"), [("", "x" * 10), ("OIDC_CLIENT_SECRET", "")])
def test_a_secret_needs_a_name_and_a_value(name: str, value: str) -> None:
    with pytest.raises(ValueError, match="secret"):
        Secret(name, value)


def test_a_secret_is_immutable() -> None:
    secret = Secret("OIDC_CLIENT_SECRET", CLIENT_SECRET)
    with pytest.raises(AttributeError):
        secret.name = "OTHER"  # type: ignore[misc]


def test_the_targets_repr_holds_no_secret_value() -> None:
    target = Target(
        system_map=system_map_at("https://apps.test"),
        system_map_path=Path("system_map.json"),
        secrets=secrets_of(
            {"OIDC_CLIENT_SECRET": CLIENT_SECRET, "A8_TELEMETRY_KEY": A8_KEY, "UNSET": ""}
        ),
        processes=None,
        description="a deployment",
    )
    assert leaks(repr(target) + str(target), CLIENT_SECRET, A8_KEY) == []
    assert target.secret("A8_TELEMETRY_KEY").reveal() == A8_KEY
    assert set(target.secrets) == {"OIDC_CLIENT_SECRET", "A8_TELEMETRY_KEY"}


# --- a failing token fetch, printed in full ------------------------------------------------

TOKEN_CHECK = """
from secondconf.target.client import harness_sync_client
from secondconf.target.identity import fetch_token_sync


def test_a_token_for_the_student(target):
    system_map = target.system_map
    client_secret = target.secret("OIDC_CLIENT_SECRET")
    with harness_sync_client(system_map, timeout_s=5.0) as client:
        token = fetch_token_sync(client, system_map, client_secret, "test_student_e2e_01")
    assert token.subject == "test_student_e2e_01"
"""


class _Garbage(BaseHTTPRequestHandler):
    """Every app answers /health; A1's discovery document is not JSON."""

    def do_GET(self) -> None:
        healthy = self.path == "/health"
        self.send_response(200)
        self.send_header("Content-Type", "application/json" if healthy else "text/html")
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}' if healthy else b"<html>\x00garbage</html>")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def apps_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize(
    ("a1_down", "reason"),
    [(True, "A1 unreachable for a token"), (False, "A1 discovery document is not JSON")],
    ids=["A1 down", "A1 answers garbage"],
)
def test_a_failing_token_fetch_with_showlocals_prints_no_secret(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    apps_url: str,
    a1_down: bool,
    reason: str,
) -> None:
    data = system_map_json(apps_url)
    if a1_down:
        data["apps"]["A1"]["base_url"] = closed_port_url()
    pytester.makefile(".json", system_map=json.dumps(data))
    pytester.makepyfile(test_token=TOKEN_CHECK)
    monkeypatch.setenv("OIDC_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("A8_TELEMETRY_KEY", A8_KEY)
    result = pytester.runpytest_subprocess(
        f"--system-map={pytester.path / 'system_map.json'}",
        "--tb=long",
        "--showlocals",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
    )
    result.assert_outcomes(failed=1)
    output = result.stdout.str() + result.stderr.str()
    assert reason in output
    assert "client_secret = Secret('OIDC_CLIENT_SECRET', '**********')" in output  # shown, masked
    assert leaks(output, CLIENT_SECRET, A8_KEY) == []
