"""Phase 2 baseline load: the read paths of every app, run by locust in its own process.

Run by ``plugin/secondconf/checks/load/locust.py`` with ``.venv-locust/bin/locust`` (locust
monkey-patches the standard library with gevent, so it never runs inside pytest). Reads the
system map, CA bundle and rate (requests per second per user, default 10) as
:mod:`locust_synthetic` says.

Every request is a GET that needs no token: each app's health and readiness routes, and
the identity provider's discovery document and key set. Each carries the synthetic tags
(``X-Test-Run: true``, ``X-Source: qa``) and a fresh ``X-Trace-Id``, and is named
``"<app> <route>"`` so locust keeps its stats per endpoint. Nothing here writes.
"""

from __future__ import annotations

import random
from typing import Any

from locust import task
from locust_synthetic import SYSTEM_MAP_ENV, PacedSyntheticUser, rate_from_env, system_map

IDENTITY_READ_ROUTES = ("/.well-known/openid-configuration", "/jwks.json")


def read_endpoints(system_map: dict[str, Any]) -> list[tuple[str, str]]:
    """``(name, url)`` of every read path: each app's health and ready, A1's OIDC reads."""
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


_MAP = system_map()
ENDPOINTS = read_endpoints(_MAP) if _MAP is not None else []


class ReadPathsUser(PacedSyntheticUser):
    """Walks every read endpoint in turn (from a random start), so each gets an equal share."""

    rate_per_user = rate_from_env(default=10.0)

    def on_start(self) -> None:
        if not ENDPOINTS:
            raise RuntimeError(f"{SYSTEM_MAP_ENV} names no system map")
        self._next = random.randrange(len(ENDPOINTS))
        super().on_start()

    @task
    def read(self) -> None:
        name, url = ENDPOINTS[self._next]
        self._next = (self._next + 1) % len(ENDPOINTS)
        self.client.get(url, name=name, headers=self.synthetic_headers())
