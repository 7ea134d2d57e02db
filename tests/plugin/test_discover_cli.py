"""``secondconf-discover``: base URLs from variables or a targets file, a map that loads back,
one line per app, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from _pytest.capture import CaptureResult
from secondconf.cli.discover import main
from secondconf.contract.platform import APP_IDS
from secondconf.target.discovery import TARGET_URL_ENV_VARS
from secondconf.target.map import load_system_map

from tests.loopback import ServedApp, serve
from tests.plugin.fake_deployment import fake_apps

PREFIX = "secondconf-discover: error: "
SCRIPT = Path(sys.executable).parent / "secondconf-discover"


@pytest.fixture(scope="module")
def served() -> Iterator[ServedApp]:
    with serve(fake_apps(), tls=trustme.CA()) as app:
        yield app


def app_urls(base: str) -> dict[str, str]:
    return {app_id: f"{base}/{app_id.lower()}" for app_id in APP_IDS}


def url_env(urls: dict[str, str]) -> dict[str, str]:
    return {TARGET_URL_ENV_VARS[app_id]: url for app_id, url in urls.items()}


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def one_error_line(captured: CaptureResult[str]) -> str:
    assert captured.out == ""
    assert "Traceback" not in captured.err
    lines: list[str] = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(PREFIX)
    return lines[0]


def test_urls_from_the_environment_make_a_map_that_loads(
    served: ServedApp, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "maps" / "system_map.json"
    argv = ["--ca-bundle", str(served.ca_file), "--out", str(out), "--env", "staging"]
    assert main(argv, environ=url_env(app_urls(served.url))) == 0
    system_map = load_system_map(out, environ={})
    assert system_map.env == "staging"
    assert system_map.ca_bundle == served.ca_file.resolve()
    assert system_map.apps["A3"].version == "a3-1.2.3"
    assert system_map.apps["A3"].routes == ("GET /health", "GET /v1/things", "POST /v1/things")
    assert system_map.apps["A5"].routes == ()
    lines = capsys.readouterr().out.splitlines()
    base = served.url
    assert lines[0] == (
        f"A1 {base}/a1: health ok, ready, openapi found, version a1-1.2.3, 3 routes"
    )
    assert lines[1] == (
        f"A2 {base}/a2: health ok, not ready, openapi found, version a2-1.2.3, 3 routes"
    )
    assert lines[4] == (
        f"A5 {base}/a5: health ok, ready, openapi absent, version a5-1.2.3, 0 routes"
    )
    notes = [line for line in lines if line.startswith("note: ")]
    assert notes == [
        f"note: A2 {base}/a2/ready: answered 503 (not ready at discovery time)",
        f"note: A5 {base}/a5/openapi.json: absent (answered 404); routes left empty",
    ]
    assert lines[-1] == f"wrote {out} (env staging, 8 apps)"


def test_a_targets_file_gives_the_urls_and_a_variable_overrides_it(
    served: ServedApp, tmp_path: Path
) -> None:
    from_file = app_urls(served.url)
    from_file["A3"] = f"https://127.0.0.1:{closed_port()}"  # would be unreachable
    targets = tmp_path / "targets.json"
    targets.write_text(json.dumps(from_file))
    environ = {TARGET_URL_ENV_VARS["A3"]: f"{served.url}/a3"}
    out = tmp_path / "system_map.json"
    argv = ["--targets", str(targets), "--ca-bundle", str(served.ca_file), "--out", str(out)]
    assert main([*argv, "--env", "prod_observe"], environ=environ) == 0
    system_map = load_system_map(out, environ={})
    assert system_map.env == "prod_observe"
    assert system_map.apps["A3"].base_url == f"{served.url}/a3"
    assert system_map.apps["A8"].base_url == f"{served.url}/a8"


def test_an_unreachable_app_is_one_error_line_and_writes_nothing(
    served: ServedApp, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    urls = app_urls(served.url)
    urls["A6"] = f"https://127.0.0.1:{closed_port()}"
    out = tmp_path / "system_map.json"
    argv = ["--ca-bundle", str(served.ca_file), "--out", str(out), "--timeout", "3"]
    assert main(argv, environ=url_env(urls)) == 2
    line = one_error_line(capsys.readouterr())
    assert f"A6 {urls['A6']}/health: unreachable (connect error" in line
    assert not out.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON at line 1"),
        ('{"A9": "https://a9.test"}', "A9: unknown app id"),
        ('{"A1": "ftp://a1.test"}', "A1: is not an http(s) URL"),
    ],
)
def test_a_bad_targets_file_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    targets = tmp_path / "targets.json"
    targets.write_text(content)
    assert main(["--targets", str(targets), "--out", str(tmp_path / "m.json")], environ={}) == 2
    line = one_error_line(capsys.readouterr())
    assert f"targets file {targets}" in line
    assert message in line


def test_a_missing_app_names_the_variable_to_set(
    served: ServedApp, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    urls = app_urls(served.url)
    del urls["A4"]
    assert main(["--out", str(tmp_path / "m.json")], environ=url_env(urls)) == 2
    assert "no base URL for A4; set SECONDCONF_A4_URL" in one_error_line(capsys.readouterr())


def test_usage_mistakes_are_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--env", "production"], environ={}) == 2
    assert "invalid choice: 'production'" in one_error_line(capsys.readouterr())
    assert main(["--ca-bundle", str(tmp_path / "nope.pem")], environ={}) == 2
    assert "nope.pem is not a file" in one_error_line(capsys.readouterr())


@pytest.mark.parametrize("timeout", ["nan", "inf", "-1", "0", "1e9", "soon"])
def test_a_timeout_that_is_not_finite_and_bounded_is_one_error_line(
    capsys: pytest.CaptureFixture[str], timeout: str
) -> None:
    assert main(["--timeout", timeout], environ={}) == 2
    line = one_error_line(capsys.readouterr())
    assert line.startswith(f"{PREFIX}argument --timeout: {timeout!r} ")


def test_the_installed_command_reads_the_environment_and_fails_without_traceback(
    tmp_path: Path,
) -> None:
    env = {"PATH": "/usr/bin:/bin", "SECONDCONF_A1_URL": "not a url"}
    done = subprocess.run(
        [str(SCRIPT), "--out", str(tmp_path / "m.json")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"{PREFIX}environment: SECONDCONF_A1_URL: is not an http(s) URL (scheme http or https, "
        "then a host)"
    ]
