"""The system map: loading and validating it, refusing secrets, and building it by discovery."""

from __future__ import annotations

import base64
import copy
import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import trustme
from secondconf.contract.platform import APP_IDS
from secondconf.core.clock import ManualClock
from secondconf.core.redact import encodings
from secondconf.target.discovery import (
    DiscoveryError,
    base_urls_from_env,
    discover,
    load_targets_file,
)
from secondconf.target.map import (
    MAX_MAP_BYTES,
    AppEntry,
    BrowserLogin,
    SystemMapError,
    dump_system_map,
    load_system_map,
    write_system_map,
)

from tests.loopback import ServedApp, serve
from tests.plugin.fake_deployment import fake_apps
from tests.plugin.pytester_helpers import system_map_json

SECRET_ADVICE = "secrets never belong in the system map; name the environment variable instead"


def valid_map_data() -> dict[str, Any]:
    apps = {
        app_id: {
            "base_url": f"https://127.0.0.1:81{index:02d}",
            "role": "some-role",
            "health": "/health",
            "ready": "/ready",
            "version": "1.0.0",
            "routes": ["GET /health", "GET /ready"],
        }
        for index, app_id in enumerate(APP_IDS, start=1)
    }
    return {
        "env": "staging",
        "generated_at": "2026-11-26T03:00:00Z",
        "apps": apps,
        "telemetry": {"app_id": "A8", "base_url": "https://127.0.0.1:8108"},
        "identity": {"app_id": "A1", "qa_client_id": "qa-harness"},
        "stripe": {"api_base": "http://127.0.0.1:8420"},
        "ca_bundle": "certs/ca.pem",
    }


@pytest.fixture
def map_dir(tmp_path: Path) -> Path:
    (tmp_path / "certs").mkdir()
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "certs" / "ca.pem"))
    return tmp_path


def write_map(folder: Path, data: Any) -> Path:
    path = folder / "system_map.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2))
    return path


def test_a_valid_map_loads_with_every_field(map_dir: Path) -> None:
    loaded = load_system_map(write_map(map_dir, valid_map_data()), environ={})
    assert loaded.env == "staging"
    assert loaded.generated_at == "2026-11-26T03:00:00Z"
    assert list(loaded.apps) == list(APP_IDS)
    assert loaded.apps["A2"] == AppEntry(
        "A2", "https://127.0.0.1:8102", "some-role", "/health", "/ready", "1.0.0",
        ("GET /health", "GET /ready"),
    )  # fmt: skip
    assert loaded.apps["A2"].health_url == "https://127.0.0.1:8102/health"
    assert loaded.telemetry_base_url == "https://127.0.0.1:8108"
    assert loaded.identity_base_url == "https://127.0.0.1:8101"
    assert loaded.qa_client_id == "qa-harness"
    assert loaded.stripe_api_base == "http://127.0.0.1:8420"
    assert loaded.ca_bundle == (map_dir / "certs" / "ca.pem").resolve()


def test_optional_sections_may_be_left_out(map_dir: Path) -> None:
    data = valid_map_data()
    del data["stripe"], data["ca_bundle"]
    loaded = load_system_map(write_map(map_dir, data), environ={})
    assert (loaded.stripe_api_base, loaded.ca_bundle) == (None, None)


def without(*keys: str) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        target = data
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]

    return mutate


def setting(value: Any, *keys: str) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        target = data
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return mutate


MALFORMED: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "missing app": (without("apps", "A4"), "apps.A4: missing"),
    "unknown app": (setting({"base_url": "https://x"}, "apps", "A9"), "apps.A9: unknown app id"),
    "ftp url": (setting("ftp://127.0.0.1/x", "apps", "A2", "base_url"), "apps.A2.base_url:"),
    "url without scheme": (setting("127.0.0.1:8101", "apps", "A1", "base_url"), "apps.A1.base_url"),
    "url of wrong type": (
        setting(8101, "apps", "A1", "base_url"),
        "apps.A1.base_url: must be a string",
    ),
    "routes of wrong type": (setting("GET /health", "apps", "A3", "routes"), "apps.A3.routes"),
    "version of wrong type": (setting(1, "apps", "A3", "version"), "apps.A3.version"),
    "health not a path": (setting("health", "apps", "A5", "health"), "apps.A5.health"),
    "app not an object": (setting([], "apps", "A6"), "apps.A6: must be a JSON object"),
    "unknown env": (setting("production", "env"), "env: unknown environment; valid values"),
    "env missing": (without("env"), "env: missing"),
    "bad timestamp": (setting("yesterday", "generated_at"), "generated_at"),
    "missing telemetry": (without("telemetry"), "telemetry: missing"),
    "telemetry url not http": (
        setting("file:///a8", "telemetry", "base_url"),
        "telemetry.base_url",
    ),
    "telemetry app unknown": (setting("A0", "telemetry", "app_id"), "telemetry.app_id"),
    "missing identity": (without("identity"), "identity: missing"),
    "missing qa client": (without("identity", "qa_client_id"), "identity.qa_client_id: missing"),
    "stripe api base not http": (setting("ws://x", "stripe", "api_base"), "stripe.api_base"),
    "missing ca bundle": (setting("certs/absent.pem", "ca_bundle"), "ca_bundle:"),
    "url with query": (setting("https://h/?a=1", "apps", "A7", "base_url"), "apps.A7.base_url"),
}


@pytest.mark.parametrize(("mutate", "field"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_map_is_one_line_naming_the_file_and_field(
    map_dir: Path, mutate: Callable[[dict[str, Any]], None], field: str
) -> None:
    data = valid_map_data()
    mutate(data)
    path = write_map(map_dir, data)
    with pytest.raises(SystemMapError) as caught:
        load_system_map(path, environ={})
    message = str(caught.value)
    assert message.startswith(f"system map {path}: ")
    assert field in message
    assert "\n" not in message


def test_invalid_json_names_the_line_and_column(map_dir: Path) -> None:
    path = write_map(map_dir, '{\n  "env": "staging",\n  "apps": {,}\n}\n')
    with pytest.raises(SystemMapError, match=r"not valid JSON at line 3 column 12"):
        load_system_map(path, environ={})


def test_a_map_that_is_not_an_object_is_refused(map_dir: Path) -> None:
    with pytest.raises(SystemMapError, match=r"\(top level\): must be a JSON object, got an array"):
        load_system_map(write_map(map_dir, "[]"), environ={})


def test_a_missing_file_is_a_system_map_error(tmp_path: Path) -> None:
    with pytest.raises(SystemMapError, match="cannot be read"):
        load_system_map(tmp_path / "absent.json")


SECRETS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "secret key by name": (setting("abc123def456", "stripe", "secret_key"), "stripe.secret_key"),
    "env var name as key": (setting("xyz-987-xyz", "A8_TELEMETRY_KEY"), "A8_TELEMETRY_KEY"),
    "client secret": (
        setting("s3cr3t-value", "identity", "client_secret"),
        "identity.client_secret",
    ),
    "stripe key shape": (setting("sk_test_51abc", "apps", "A2", "note"), "apps.A2.note"),
    "webhook secret shape": (setting(["whsec_abc"], "stripe", "hooks"), "stripe.hooks[0]"),
    "credentials in url": (
        setting("https://qa:pw@127.0.0.1:8101", "apps", "A1", "base_url"),
        "apps.A1.base_url",
    ),
}


@pytest.mark.parametrize(("mutate", "field"), SECRETS.values(), ids=SECRETS.keys())
def test_secrets_in_the_map_are_refused_without_echoing_them(
    map_dir: Path, mutate: Callable[[dict[str, Any]], None], field: str
) -> None:
    data = valid_map_data()
    mutate(data)
    with pytest.raises(SystemMapError, match=SECRET_ADVICE) as caught:
        load_system_map(write_map(map_dir, data), environ={})
    message = str(caught.value)
    assert field in message
    for secret in ("abc123def456", "xyz-987-xyz", "s3cr3t-value", "sk_test_51abc", "whsec_abc"):
        assert secret not in message
    assert ":pw@" not in message


def test_a_value_equal_to_a_secret_environment_variable_is_refused(map_dir: Path) -> None:
    data = valid_map_data()
    data["apps"]["A8"]["version"] = "the-telemetry-key-value"
    environ = {"A8_TELEMETRY_KEY": "the-telemetry-key-value"}
    with pytest.raises(
        SystemMapError,
        match=f"apps.A8.version: holds the value of A8_TELEMETRY_KEY \\(raw\\); {SECRET_ADVICE}",
    ):
        load_system_map(write_map(map_dir, data), environ=environ)


def test_naming_the_environment_variable_is_allowed(map_dir: Path) -> None:
    data = valid_map_data()
    data["stripe"]["secret_key"] = "STRIPE_SECRET_KEY"
    data["identity"]["client_secret_env"] = "OIDC_CLIENT_SECRET"
    data["telemetry"]["token_ttl_s"] = 900
    assert load_system_map(write_map(map_dir, data), environ={}).env == "staging"


def test_dump_and_load_round_trip(map_dir: Path) -> None:
    loaded = load_system_map(write_map(map_dir, valid_map_data()), environ={})
    copy_path = map_dir / "elsewhere" / "copy.json"
    write_system_map(loaded, copy_path)
    assert load_system_map(copy_path, environ={}) == loaded
    assert dump_system_map(loaded)["ca_bundle"] == str((map_dir / "certs" / "ca.pem").resolve())


def test_a_map_without_optional_sections_dumps_without_them(map_dir: Path) -> None:
    data = copy.deepcopy(valid_map_data())
    del data["stripe"], data["ca_bundle"]
    dumped = dump_system_map(load_system_map(write_map(map_dir, data), environ={}))
    assert "stripe" not in dumped
    assert "ca_bundle" not in dumped


def test_base_urls_come_from_secondconf_an_url_variables() -> None:
    environ = {
        "SECONDCONF_A1_URL": "https://a1.example/",
        "SECONDCONF_A8_URL": "http://127.0.0.1:8108",
        "SECONDCONF_A3_URL": "",
        "OTHER": "x",
    }
    assert base_urls_from_env(environ) == {
        "A1": "https://a1.example",
        "A8": "http://127.0.0.1:8108",
    }


def test_a_bad_url_in_the_environment_names_the_variable() -> None:
    with pytest.raises(SystemMapError, match="environment: SECONDCONF_A2_URL: is not an http"):
        base_urls_from_env({"SECONDCONF_A2_URL": "ftp://x"})


def test_a_targets_file_maps_app_ids_to_urls(tmp_path: Path) -> None:
    path = tmp_path / "targets.json"
    path.write_text(json.dumps({"A1": "https://a1.example", "A2": "https://a2.example/"}))
    assert load_targets_file(path) == {"A1": "https://a1.example", "A2": "https://a2.example"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"A1": "https://a1"', "not valid JSON at line 1"),
        ('{"A9": "https://a9"}', "A9: unknown app id"),
        ('{"A1": "mailto:x@y"}', "A1: is not an http(s) URL"),
        ('["https://a1"]', "must be a JSON object"),
    ],
)
def test_a_bad_targets_file_names_the_file_and_entry(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "targets.json"
    path.write_text(content)
    with pytest.raises(SystemMapError, match=f"^targets file {path}: .*") as caught:
        load_targets_file(path)
    assert message in str(caught.value)


# --- discovery against real HTTPS servers on loopback ------------------------------------


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def served_apps() -> Iterator[ServedApp]:
    with serve(fake_apps(), tls=trustme.CA()) as served:
        yield served


@pytest.fixture(scope="module")
def apps_url(served_apps: ServedApp) -> str:
    return served_apps.url


@pytest.fixture(scope="module")
def ca_file(served_apps: ServedApp) -> Path:
    return served_apps.ca_file


def app_urls(apps_url: str) -> dict[str, str]:
    return {app_id: f"{apps_url}/{app_id.lower()}" for app_id in APP_IDS}


@pytest.mark.asyncio
async def test_discovery_describes_every_app_from_what_it_serves(
    apps_url: str, ca_file: Path
) -> None:
    clock = ManualClock()
    system_map, _ = await discover(
        app_urls(apps_url), env="staging", verify=ca_file, timeout_s=5, clock=clock
    )
    a3 = system_map.apps["A3"]
    assert (a3.base_url, a3.role, a3.version) == (f"{apps_url}/a3", "orchestration", "a3-1.2.3")
    assert a3.routes == ("GET /health", "GET /v1/things", "POST /v1/things")
    assert system_map.telemetry_base_url == f"{apps_url}/a8"
    assert system_map.identity_base_url == f"{apps_url}/a1"
    assert system_map.ca_bundle == ca_file.resolve()
    assert system_map.generated_at == "2026-01-01T00:00:00Z"


@pytest.mark.asyncio
async def test_an_app_without_openapi_gets_a_note_and_no_routes(
    apps_url: str, ca_file: Path
) -> None:
    system_map, notes = await discover(
        app_urls(apps_url), env="staging", verify=ca_file, timeout_s=5
    )
    assert system_map.apps["A5"].routes == ()
    assert [str(n) for n in notes if n.app_id == "A5"] == [
        f"A5 {apps_url}/a5/openapi.json: absent (answered 404); routes left empty"
    ]
    assert any(n.app_id == "A2" and "503" in n.message and not n.fatal for n in notes)


@pytest.mark.asyncio
async def test_a_discovered_map_loads_back_identically(
    apps_url: str, ca_file: Path, tmp_path: Path
) -> None:
    system_map, _ = await discover(app_urls(apps_url), env="staging", verify=ca_file, timeout_s=5)
    write_system_map(system_map, tmp_path / "system_map.json")
    assert load_system_map(tmp_path / "system_map.json", environ={}) == system_map


@pytest.mark.asyncio
async def test_an_unreachable_app_is_a_one_line_error_naming_app_and_url(
    apps_url: str, ca_file: Path
) -> None:
    urls = app_urls(apps_url)
    urls["A3"] = f"https://127.0.0.1:{closed_port()}"
    with pytest.raises(DiscoveryError) as caught:
        await discover(urls, env="staging", verify=ca_file, timeout_s=5)
    message = str(caught.value)
    assert f"A3 {urls['A3']}/health: unreachable (connect error" in message
    assert "\n" not in message
    assert [n.app_id for n in caught.value.notes if n.fatal] == ["A3"]


@pytest.mark.asyncio
async def test_an_app_that_answers_as_another_is_refused(apps_url: str, ca_file: Path) -> None:
    urls = app_urls(apps_url)
    urls["A6"] = f"{apps_url}/a7"
    with pytest.raises(DiscoveryError, match=r"A6 .*/a7/health: answers as 'A7', not A6"):
        await discover(urls, env="staging", verify=ca_file, timeout_s=5)


@pytest.mark.asyncio
async def test_discovery_without_every_app_names_the_variables_to_set(apps_url: str) -> None:
    urls = app_urls(apps_url)
    del urls["A4"]
    with pytest.raises(DiscoveryError, match="no base URL for A4; set SECONDCONF_A4_URL"):
        await discover(urls, env="staging", timeout_s=5)


@pytest.mark.asyncio
async def test_discovery_without_the_ca_fails_as_unreachable(apps_url: str) -> None:
    with pytest.raises(DiscoveryError, match=r"A1 .*unreachable"):
        await discover(app_urls(apps_url), env="staging", verify=True, timeout_s=5)


@pytest.mark.asyncio
async def test_discovery_sends_through_the_harness_client_with_trace_id_and_tags() -> None:
    """Discovery's requests are the guarded client's: a fresh trace id each, the synthetic
    tags and identity (a hand-built client forgot the identity)."""
    seen: list[dict[str, str]] = []
    apps = fake_apps()

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append({k.decode(): v.decode() for k, v in scope["headers"]})
        await apps(scope, receive, send)

    with serve(recording) as served:
        await discover(app_urls(served.url), env="staging", timeout_s=5)
    assert len(seen) == 3 * len(APP_IDS)
    assert {(h["x-test-run"], h["x-source"], h["x-synthetic-identity"]) for h in seen} == {
        ("true", "qa", "test_student_e2e_01")
    }
    assert len({h["x-trace-id"] for h in seen}) == len(seen)


@pytest.mark.asyncio
async def test_discovery_refuses_a_url_that_is_not_http() -> None:
    urls = {app_id: f"https://{app_id.lower()}.test" for app_id in APP_IDS}
    urls["A2"] = "ftp://a2.test"
    with pytest.raises(DiscoveryError, match=r"^discovery: A2: is not an http"):
        await discover(urls, env="staging", timeout_s=1)


# --- identity.browser_login (harness extension) --------------------------------------------

BROWSER_LOGIN = {
    "client_id": "student-web",
    "redirect_uri": "https://127.0.0.1:8105/auth/callback",
    "session_ttl_s": 3600,
    "cookie_domain": None,
    "username_field": "username",
    "password_field": "password",
    "password_env": "OIDC_CLIENT_SECRET",
}


DROP = object()  # a change that removes the field


def with_browser_login(**changes: Any) -> dict[str, Any]:
    data = valid_map_data()
    section = BROWSER_LOGIN | changes
    data["identity"]["browser_login"] = {k: v for k, v in section.items() if v is not DROP}
    return data


def test_browser_login_is_optional_and_loads_when_given(map_dir: Path) -> None:
    assert load_system_map(write_map(map_dir, valid_map_data()), environ={}).browser_login is None
    loaded = load_system_map(write_map(map_dir, with_browser_login()), environ={})
    assert loaded.browser_login == BrowserLogin(
        client_id="student-web",
        redirect_uri="https://127.0.0.1:8105/auth/callback",
        session_ttl_s=3600,
    )


def test_browser_login_defaults_and_round_trip(map_dir: Path) -> None:
    data = valid_map_data()
    data["identity"]["browser_login"] = {
        "client_id": "web",
        "redirect_uri": "https://app.example/cb?tenant=1",
        "session_ttl_s": 60,
        "cookie_domain": "example.com",
        "cookie_name": "sid",
    }
    loaded = load_system_map(write_map(map_dir, data), environ={})
    assert loaded.browser_login is not None
    assert (loaded.browser_login.username_field, loaded.browser_login.password_env) == (
        "username",
        "OIDC_CLIENT_SECRET",
    )
    copy_path = map_dir / "copy.json"
    write_system_map(loaded, copy_path)
    assert load_system_map(copy_path, environ={}) == loaded


BAD_BROWSER_LOGIN: dict[str, tuple[dict[str, Any], str]] = {
    "missing client": ({"client_id": DROP}, "identity.browser_login.client_id: missing"),
    "empty client": ({"client_id": ""}, "identity.browser_login.client_id: must not be empty"),
    "relative redirect": ({"redirect_uri": "/cb"}, "identity.browser_login.redirect_uri"),
    "redirect fragment": (
        {"redirect_uri": "https://a/cb#x"},
        "identity.browser_login.redirect_uri: must be an absolute http(s) URL without a fragment",
    ),
    "ttl missing": ({"session_ttl_s": DROP}, "identity.browser_login.session_ttl_s: missing"),
    "ttl string": ({"session_ttl_s": "3600"}, "identity.browser_login.session_ttl_s: must be"),
    "ttl over 400 days": ({"session_ttl_s": 34_560_001}, "identity.browser_login.session_ttl_s"),
    "ttl bool": ({"session_ttl_s": True}, "identity.browser_login.session_ttl_s"),
    "domain with path": ({"cookie_domain": "a.com/x"}, "identity.browser_login.cookie_domain"),
    "password env lowercase": (
        {"password_env": "oidc"},
        "identity.browser_login.password_env: must name an environment variable",
    ),
    "unknown field": ({"cookie_path": "/"}, "identity.browser_login.cookie_path: unknown field"),
    "field of wrong type": ({"username_field": 3}, "identity.browser_login.username_field"),
}


@pytest.mark.parametrize(("changes", "field"), BAD_BROWSER_LOGIN.values(), ids=BAD_BROWSER_LOGIN)
def test_a_malformed_browser_login_is_one_clear_error(
    map_dir: Path, changes: dict[str, Any], field: str
) -> None:
    path = write_map(map_dir, with_browser_login(**changes))
    with pytest.raises(SystemMapError) as caught:
        load_system_map(path, environ={})
    message = str(caught.value)
    assert message.startswith(f"system map {path}: ")
    assert field in message
    assert "\n" not in message


def test_browser_login_that_is_not_an_object_is_refused(map_dir: Path) -> None:
    data = valid_map_data()
    data["identity"]["browser_login"] = ["student-web"]
    with pytest.raises(SystemMapError, match=r"identity\.browser_login: must be a JSON object"):
        load_system_map(write_map(map_dir, data), environ={})


def test_a_password_in_browser_login_is_refused_as_a_secret(map_dir: Path) -> None:
    path = write_map(map_dir, with_browser_login(password="hunter2-value"))
    with pytest.raises(SystemMapError) as caught:
        load_system_map(path, environ={})
    assert "identity.browser_login.password: " + SECRET_ADVICE in str(caught.value)
    assert "hunter2" not in str(caught.value)


# --- no value echoed, secrets in any encoding, bounded reading ------------------------------

PASTED = "pasted-Secret/+Value-0123456789"  # a secret no variable holds: only the echo shows


ECHOES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "base_url not a URL": (setting(PASTED, "apps", "A1", "base_url"), "apps.A1.base_url: "),
    "base_url bad port": (
        setting(f"https://h:{PASTED}", "apps", "A2", "base_url"),
        "apps.A2.base_url: is not a valid URL",
    ),
    "base_url with query": (
        setting(f"https://h/?k={PASTED}", "apps", "A3", "base_url"),
        "apps.A3.base_url: must not carry a query",
    ),
    "env": (setting(PASTED, "env"), "env: unknown environment"),
    "generated_at": (setting(PASTED, "generated_at"), "generated_at: is not an RFC 3339"),
    "health": (setting(PASTED, "apps", "A5", "health"), "apps.A5.health: must be a path"),
    "app id": (setting(PASTED, "telemetry", "app_id"), "telemetry.app_id: is not an app id"),
    "ca_bundle": (setting(PASTED, "ca_bundle"), "ca_bundle: no such file"),
    "stripe": (setting(PASTED, "stripe", "api_base"), "stripe.api_base: is not an http(s) URL"),
}


@pytest.mark.parametrize(("mutate", "field"), ECHOES.values(), ids=ECHOES)
def test_an_error_names_the_field_and_never_echoes_its_value(
    map_dir: Path, mutate: Callable[[dict[str, Any]], None], field: str
) -> None:
    data = valid_map_data()
    mutate(data)
    with pytest.raises(SystemMapError) as caught:
        load_system_map(write_map(map_dir, data), environ={})
    message = str(caught.value)
    assert field in message
    assert [e for e in encodings(PASTED) if e in message.encode()] == []


def test_a_bad_cookie_domain_is_not_echoed(map_dir: Path) -> None:
    path = write_map(map_dir, with_browser_login(cookie_domain=f"{PASTED} x"))
    with pytest.raises(SystemMapError, match="cookie_domain: is not a domain") as caught:
        load_system_map(path, environ={})
    assert PASTED not in str(caught.value)


TELEMETRY_KEY = 'Tel3metry/+Key "q" ünï-' + "Zq9" * 6


ENCODED: dict[str, tuple[Callable[[dict[str, Any]], None], str, str]] = {
    "raw, inside a version": (
        setting(f"v1-{TELEMETRY_KEY}-build", "apps", "A1", "version"),
        "apps.A1.version",
        "raw",
    ),
    "url-encoded, in a route": (
        setting([f"GET /x?k={quote(TELEMETRY_KEY, safe='')}"], "apps", "A2", "routes"),
        "apps.A2.routes[0]",
        "url-encoded",
    ),
    "base64, as in a Basic header": (
        setting(base64.b64encode(f"qa:{TELEMETRY_KEY}".encode()).decode(), "identity", "note"),
        "identity.note",
        "base64",
    ),
    "base64url": (
        setting(base64.urlsafe_b64encode(TELEMETRY_KEY.encode()).decode(), "telemetry", "hint"),
        "telemetry.hint",
        "base64",
    ),
    "in a key": (setting(1, "apps", "A3", f"x-{TELEMETRY_KEY}"), "apps.A3: a key", "raw"),
}


@pytest.mark.parametrize(("mutate", "field", "encoding"), ENCODED.values(), ids=ENCODED)
def test_a_field_holding_a_secret_in_any_encoding_names_the_variable_only(
    map_dir: Path, mutate: Callable[[dict[str, Any]], None], field: str, encoding: str
) -> None:
    data = valid_map_data()
    mutate(data)
    with pytest.raises(SystemMapError) as caught:
        load_system_map(write_map(map_dir, data), environ={"A8_TELEMETRY_KEY": TELEMETRY_KEY})
    message = str(caught.value)
    assert f"{field}" in message
    assert f"holds the value of A8_TELEMETRY_KEY ({encoding}" in message
    assert SECRET_ADVICE in message
    assert [e for e in encodings(TELEMETRY_KEY) if e in message.encode()] == []


def test_a_map_over_one_mib_is_refused_without_reading_it_whole(map_dir: Path) -> None:
    path = write_map(map_dir, valid_map_data())
    with path.open("r+b") as file:  # sparse: 300 MB that cost nothing to make
        file.truncate(300 * 1024 * 1024)
    with pytest.raises(SystemMapError, match=r"larger than 1024 KiB; a system map is a few KiB"):
        load_system_map(path, environ={})


def test_a_map_of_exactly_one_mib_is_read(map_dir: Path) -> None:
    text = json.dumps(valid_map_data())
    path = write_map(map_dir, text + " " * (MAX_MAP_BYTES - len(text)))
    assert load_system_map(path, environ={}).env == "staging"
    path.write_text(text + " " * (MAX_MAP_BYTES + 1 - len(text)))
    with pytest.raises(SystemMapError, match="larger than"):
        load_system_map(path, environ={})


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize("depth", [17, 990, 100_000])
def test_a_map_nested_too_deep_is_one_error_line(map_dir: Path, depth: int) -> None:
    text = json.dumps(valid_map_data())[:-1] + ', "x": ' + "[" * depth + "]" * depth + "}"
    with pytest.raises(SystemMapError) as caught:
        load_system_map(write_map(map_dir, text), environ={})
    assert str(caught.value).endswith(": nested deeper than 16 levels; a system map needs four")


def test_nesting_up_to_the_limit_is_accepted(map_dir: Path) -> None:
    data = valid_map_data()
    data["x"] = nested(15)  # the top-level object is the 16th level
    assert load_system_map(write_map(map_dir, data), environ={}).env == "staging"


def test_a_targets_file_has_the_same_limits(tmp_path: Path) -> None:
    path = tmp_path / "targets.json"
    path.write_text('{"A1": ' + "[" * 50 + "]" * 50 + "}")
    with pytest.raises(SystemMapError, match=f"^targets file {path}: nested deeper than 16"):
        load_targets_file(path)


def test_a_fifo_is_refused_instead_of_blocking(tmp_path: Path) -> None:
    path = tmp_path / "system_map.json"
    os.mkfifo(path)
    outcome: list[BaseException | None] = []

    def load() -> None:
        try:
            load_system_map(path, environ={})
        except SystemMapError as error:
            outcome.append(error)

    reader = threading.Thread(target=load, daemon=True)
    reader.start()
    reader.join(timeout=10)
    if reader.is_alive():  # unblock the reader so the test run can end
        with open(path, "w"):
            pass
        pytest.fail("reading a FIFO as the system map blocked")
    assert [str(e) for e in outcome] == [f"system map {path}: cannot be read: not a regular file"]


def test_a_ca_bundle_that_is_not_pem_is_one_error_line(map_dir: Path) -> None:
    (map_dir / "certs" / "ca.pem").write_text("not a certificate\n")
    with pytest.raises(SystemMapError) as caught:
        load_system_map(write_map(map_dir, valid_map_data()), environ={})
    assert str(caught.value).endswith(
        ": ca_bundle: is not a PEM CA bundle (no certificate loads from it)"
    )


def test_pytest_with_a_non_pem_ca_bundle_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the map loaded, the first HTTPS client failed on the bundle: INTERNALERROR."""
    monkeypatch.setenv("A8_TELEMETRY_KEY", "not-a-real-key")
    pytester.makefile(".pem", bad="-----BEGIN CERTIFICATE-----\nnot base64\n")
    data = system_map_json("https://127.0.0.1:9")
    data["ca_bundle"] = "bad.pem"
    pytester.makefile(".json", bad=json.dumps(data))
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess(
        f"--system-map={pytester.path / 'bad.json'}", "-p", "no:cacheprovider", "-p", "no:xdist"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.stderr.lines if line] == [
        f"ERROR: system map {pytester.path / 'bad.json'}: ca_bundle: is not a PEM CA bundle "
        "(no certificate loads from it)"
    ]
    assert "INTERNALERROR" not in result.stdout.str()
