"""Every app's probes, trace echo and published contract; the system map and secrets."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from reftarget.core.headers import is_valid_trace_id
from reftarget.core.settings import APP_IDS

from tests.ecosystem.apps.target import PROTECTED_READS, Target, new_trace_id


@pytest.mark.parametrize("app_id", APP_IDS)
def test_health_reports_ok_app_id_and_version(target: Target, app_id: str) -> None:
    body = target.get(app_id, "/health").json()
    assert body == {
        "status": "ok",
        "app_id": app_id,
        "version": target.map["apps"][app_id]["version"],
    }


@pytest.mark.parametrize("app_id", APP_IDS)
def test_ready_is_200_with_every_check_ok(target: Target, app_id: str) -> None:
    response = target.get(app_id, "/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]
    assert set(body["checks"].values()) == {"ok"}


def test_every_app_echoes_the_trace_id_or_makes_one(target: Target) -> None:
    for app_id in APP_IDS:
        trace = new_trace_id()
        assert target.get(app_id, "/health", {"X-Trace-Id": trace}).headers["x-trace-id"] == trace
        assert is_valid_trace_id(target.get(app_id, "/health").headers["x-trace-id"])


def test_every_protected_route_needs_a_token(target: Target) -> None:
    for app_id, path in PROTECTED_READS.items():
        response = target.get(app_id, path)
        assert response.status_code == 401, app_id
        assert response.headers["content-type"] == "application/problem+json"


def test_the_system_map_has_the_contract_shape(target: Target) -> None:
    system_map = target.map
    assert system_map["env"] == "embedded"
    assert set(system_map["apps"]) == set(APP_IDS)
    for entry in system_map["apps"].values():
        assert {"base_url", "role", "health", "ready", "version", "routes"} <= entry.keys()
        assert entry["base_url"].startswith("https://127.0.0.1:")
    assert system_map["telemetry"]["app_id"] == "A8"
    identity = dict(system_map["identity"])
    login = identity.pop("browser_login")
    assert identity == {"app_id": "A1", "qa_client_id": "qa-harness"}
    assert login["redirect_uri"] == system_map["apps"]["A5"]["base_url"] + "/auth/callback"
    assert (login["client_id"], login["password_env"]) == ("student-web", "OIDC_CLIENT_SECRET")
    assert system_map["stripe"]["api_base"].startswith("http://127.0.0.1:")
    assert Path(system_map["ca_bundle"]).is_file()
    assert "POST /v1/checkout" in system_map["apps"]["A2"]["routes"]


def test_no_secret_value_is_in_the_map_or_any_log(target: Target) -> None:
    state = target.eco.state_dir
    texts = [target.eco.system_map_path.read_text()]
    texts += [log.read_text(errors="replace") for log in (state / "logs").glob("*.log")]
    for name, value in target.secrets.items():
        assert all(value not in text for text in texts), name


def test_the_secrets_file_is_owner_only(target: Target) -> None:
    mode = (target.eco.state_dir / "secrets.env").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_every_mutating_route_is_published_with_the_contract_headers(target: Target) -> None:
    for app_id in APP_IDS:
        document = target.get(app_id, "/openapi.json").json()
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                if not operation["x-contract-rules"]:
                    continue
                required = {p["name"] for p in operation["parameters"] if p["required"]}
                assert {"X-Idempotency-Key", "X-Trace-Id"} <= required, (app_id, method, path)
                assert "example" in operation["requestBody"]["content"]["application/json"]
