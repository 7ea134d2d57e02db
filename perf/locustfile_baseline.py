"""Phase 2 baseline load: the read paths of every app, run by locust in its own process.

Run by ``plugin/secondconf/checks/load/locust.py`` with ``.venv-locust/bin/locust`` (locust
monkey-patches the standard library with gevent, so it never runs inside pytest). Reads:

* ``SECONDCONF_SYSTEM_MAP``: the system map (contract §2) naming every app's base URL;
* ``SECONDCONF_CA_BUNDLE``: the CA bundle (PEM) that verifies the apps' certificates
  (empty: the system's trust store);
* ``SECONDCONF_BASELINE_RATE_PER_USER``: requests per second each user aims at.

Every request is a GET that needs no token: each app's health and readiness routes, and
the identity provider's discovery document and key set. Each carries the synthetic tags
(``X-Test-Run: true``, ``X-Source: qa``) and a fresh ``X-Trace-Id``, and is named
``"<app> <route>"`` so locust keeps its stats per endpoint. Nothing here writes.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import ssl
import time
from pathlib import Path
from typing import Any

import locust_worker_totals  # noqa: F401  (a worker's own totals, in distributed runs)
from locust import FastHttpUser, task
from locust_pacing import Pacer

SYSTEM_MAP_ENV = "SECONDCONF_SYSTEM_MAP"
CA_BUNDLE_ENV = "SECONDCONF_CA_BUNDLE"
RATE_ENV = "SECONDCONF_BASELINE_RATE_PER_USER"
IDENTITY_READ_ROUTES = ("/.well-known/openid-configuration", "/jwks.json")
SYNTHETIC_HEADERS = {"X-Test-Run": "true", "X-Source": "qa"}
RATE_PER_USER = float(os.environ.get(RATE_ENV, "10"))


def read_endpoints(system_map_path: str) -> list[tuple[str, str]]:
    """``(name, url)`` of every read path: each app's health and ready, A1's OIDC reads."""
    system_map: dict[str, Any] = json.loads(Path(system_map_path).read_text(encoding="utf-8"))
    apps: dict[str, Any] = system_map["apps"]
    endpoints: list[tuple[str, str]] = []
    for app_id in sorted(apps):
        app = apps[app_id]
        base = str(app["base_url"]).rstrip("/")
        for route in (app.get("health", "/health"), app.get("ready", "/ready")):
            endpoints.append((f"{app_id} {route}", base + route))
    identity = system_map.get("identity") or {}
    identity_app = identity.get("app_id", "A1")
    identity_base = str(identity.get("base_url") or apps[identity_app]["base_url"]).rstrip("/")
    for route in IDENTITY_READ_ROUTES:
        endpoints.append((f"{identity_app} {route}", identity_base + route))
    return endpoints


def _trace_id() -> str:
    """A fresh W3C trace id: 32 lowercase hex digits, never all zero."""
    while True:
        value = secrets.token_hex(16)
        if value.strip("0"):
            return value


def _ssl_context(*_args: Any, **_kwargs: Any) -> ssl.SSLContext:
    """Verify against the map's CA bundle (geventhttpclient passes its own cafile: ignored)."""
    return ssl.create_default_context(cafile=os.environ.get(CA_BUNDLE_ENV) or None)


ENDPOINTS = read_endpoints(os.environ[SYSTEM_MAP_ENV]) if os.environ.get(SYSTEM_MAP_ENV) else []


class ReadPathsUser(FastHttpUser):
    """Walks every read endpoint in turn (from a random start), so each gets an equal share."""

    host = "https://127.0.0.1"  # every request uses an absolute URL from the system map
    insecure = False
    ssl_context_factory = staticmethod(_ssl_context)
    network_timeout = 10.0
    connection_timeout = 5.0

    def on_start(self) -> None:
        if not ENDPOINTS:
            raise RuntimeError(f"{SYSTEM_MAP_ENV} names no system map")
        self._next = random.randrange(len(ENDPOINTS))
        self._pacer = Pacer.at_random_phase(RATE_PER_USER)
        time.sleep(self._pacer.wait_s())  # locust runs under gevent: this yields

    def wait_time(self) -> float:
        return self._pacer.wait_s()

    @task
    def read(self) -> None:
        name, url = ENDPOINTS[self._next]
        self._next = (self._next + 1) % len(ENDPOINTS)
        headers = {**SYNTHETIC_HEADERS, "X-Trace-Id": _trace_id()}
        self.client.get(url, name=name, headers=headers)
