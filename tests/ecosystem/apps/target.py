"""A client of the running ecosystem that speaks the contract (for the app tests).

It reads the system map and the secrets like the harness would, gets tokens for the
synthetic identities from A1, builds mutation headers, queries A8, and flips faults.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
from reftarget.core.tls import client_ssl_context
from reftarget.launch.supervisor import RemoteEcosystem

STUDENT = "test_student_e2e_01"
PROVIDER = "test_provider_e2e_01"
SYNTHETIC = {"X-Test-Run": "true", "X-Source": "qa"}
PROTECTED_READS = {
    "A2": "/v1/checkouts/chk_none",
    "A3": "/v1/runs/run_none",
    "A4": "/v1/work",
    "A5": "/v1/credits",
    "A6": "/v1/listings",
    "A7": "/v1/bandit/config",
}


def new_trace_id(low64: int | None = None) -> str:
    """A fresh trace id; ``low64`` fixes its low 64 bits (which decide sampling)."""
    high = uuid.uuid4().hex[:16]
    low = uuid.uuid4().hex[16:] if low64 is None else f"{low64:016x}"
    return high + low


SAMPLED_IN_LOW64 = 1  # below 0.1 x 2^64: kept at 10 %
SAMPLED_OUT_LOW64 = 2**64 - 1  # never kept at 10 %


class Target:
    """The ecosystem as the harness sees it."""

    def __init__(self, eco: RemoteEcosystem) -> None:
        self.eco = eco
        self.map: dict[str, Any] = json.loads(Path(eco.system_map_path).read_text())
        self.secrets = eco.secrets_env
        self.ssl = client_ssl_context(Path(self.map["ca_bundle"]))
        self.http = httpx.Client(verify=self.ssl, trust_env=False, timeout=15.0)
        self._tokens: dict[str, str] = {}

    def close(self) -> None:
        self.http.close()

    def url(self, app_id: str, path: str = "") -> str:
        return str(self.map["apps"][app_id]["base_url"]) + path

    # -- identity -----------------------------------------------------------------------

    def new_token(self, subject: str = STUDENT) -> str:
        answer = self.http.post(
            self.url("A1", "/oauth/token"),
            data={"grant_type": "client_credentials", "subject": subject},
            auth=(self.map["identity"]["qa_client_id"], self.secrets["OIDC_CLIENT_SECRET"]),
        )
        answer.raise_for_status()
        token: str = answer.json()["access_token"]
        return token

    def token(self, subject: str = STUDENT) -> str:
        if subject not in self._tokens:
            self._tokens[subject] = self.new_token(subject)
        return self._tokens[subject]

    def auth(self, subject: str = STUDENT) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(subject)}"}

    def mutation_headers(self, subject: str = STUDENT, **extra: str) -> dict[str, str]:
        headers = {
            **self.auth(subject),
            **SYNTHETIC,
            "X-Idempotency-Key": str(uuid.uuid4()),
            "X-Trace-Id": new_trace_id(),
        }
        headers.update(extra)
        return headers

    # -- requests -----------------------------------------------------------------------

    def post(
        self, app_id: str, path: str, body: Mapping[str, Any], headers: Mapping[str, str]
    ) -> httpx.Response:
        return self.http.post(self.url(app_id, path), json=dict(body), headers=dict(headers))

    def get(
        self, app_id: str, path: str, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        return self.http.get(self.url(app_id, path), headers=dict(headers or {}))

    # -- A8 -----------------------------------------------------------------------------

    def a8(self, path: str, **params: str) -> dict[str, Any]:
        answer = self.http.get(
            self.url("A8", path),
            params=params,
            headers={"Authorization": f"Bearer {self.secrets['A8_TELEMETRY_KEY']}"},
        )
        answer.raise_for_status()
        document: dict[str, Any] = answer.json()
        return document

    def events(self, trace_id: str, event: str | None = None) -> list[dict[str, Any]]:
        params = {"trace_id": trace_id} | ({"event": event} if event else {})
        found: list[dict[str, Any]] = self.a8("/v1/events", **params)["events"]
        return found

    def wait_for_events(
        self,
        trace_id: str,
        event: str | None = None,
        *,
        count: int = 1,
        timeout_s: float = 10.0,
        where: Callable[[dict[str, Any]], bool] = lambda e: True,
    ) -> list[dict[str, Any]]:
        """Poll A8 until ``count`` matching events of the trace arrived (bounded)."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = [e for e in self.events(trace_id, event) if where(e)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.1)

    # -- faults -------------------------------------------------------------------------

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secrets['REFTARGET_ADMIN_TOKEN']}"}

    def set_faults(self, app_id: str, **changes: Any) -> dict[str, Any]:
        answer = self.http.post(
            self.url(app_id, "/_admin/faults"), json=changes, headers=self.admin()
        )
        answer.raise_for_status()
        state: dict[str, Any] = answer.json()
        return state

    def clear_faults(self, app_id: str) -> None:
        self.http.delete(
            self.url(app_id, "/_admin/faults"), headers=self.admin()
        ).raise_for_status()

    @contextlib.contextmanager
    def faults(self, app_id: str, **changes: Any) -> Iterator[dict[str, Any]]:
        """Faults on one app for the duration of a ``with`` block, cleared whatever happens."""
        try:
            yield self.set_faults(app_id, **changes)
        finally:
            self.clear_faults(app_id)


def eventually(check: Callable[[], bool], timeout_s: float = 12.0, interval_s: float = 0.2) -> bool:
    """Whether ``check`` became true within ``timeout_s`` (for cooldowns and deliveries)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval_s)
    return True
