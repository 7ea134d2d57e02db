"""The B2B billing load (the seed's k6 script ``a6_register_billing.js``): register, list, bill.

Run by ``plugin/secondconf/checks/load/a6_billing.py`` through the baseline's locust runner
(``.venv-locust/bin/locust``, its own process). Reads ``SECONDCONF_SYSTEM_MAP`` and
``SECONDCONF_CA_BUNDLE`` like the baseline profile, ``SECONDCONF_BASELINE_RATE_PER_USER``
(iterations per second each user aims at), and the synthetic provider's bearer token from
the file ``provider_token`` in locust's working directory (the harness writes it there,
mode 0600, and deletes it after the run: no secret travels in the environment).

Each iteration, as ``test_provider_e2e_01`` (contract §5), with the synthetic tags, a fresh
``X-Trace-Id`` and a fresh ``X-Idempotency-Key`` per request:

* ``POST /v1/providers``: registers the provider (201 the first time, 200 after);
* ``POST /v1/listings``: creates a draft listing;
* ``POST /v1/billing``: bills 16.50 USD with 12 cents of A4 work (fee 50, billed 48),
  a Stripe charge each time.

Requests are named ``"A6 <route>"`` so locust keeps its stats per endpoint.
"""

from __future__ import annotations

import json
import os
import secrets
import ssl
import time
import uuid
from pathlib import Path
from typing import Any

import locust_worker_totals  # noqa: F401  (a worker's own totals, in distributed runs)
from locust import FastHttpUser, task
from locust_pacing import Pacer

SYSTEM_MAP_ENV = "SECONDCONF_SYSTEM_MAP"
CA_BUNDLE_ENV = "SECONDCONF_CA_BUNDLE"
RATE_ENV = "SECONDCONF_BASELINE_RATE_PER_USER"
TOKEN_FILE = Path("provider_token")
PROVIDER_APP = "A6"
SYNTHETIC_HEADERS = {"X-Test-Run": "true", "X-Source": "qa"}
BILL = {"gross_cents": 1650, "work_cost_cents": 12}
RATE_PER_USER = float(os.environ.get(RATE_ENV, "1"))


def provider_base_url(system_map_path: str) -> str:
    """A6's base URL from the system map."""
    system_map: dict[str, Any] = json.loads(Path(system_map_path).read_text(encoding="utf-8"))
    return str(system_map["apps"][PROVIDER_APP]["base_url"]).rstrip("/")


def _trace_id() -> str:
    """A fresh W3C trace id: 32 lowercase hex digits, never all zero."""
    while True:
        value = secrets.token_hex(16)
        if value.strip("0"):
            return value


def _ssl_context(*_args: Any, **_kwargs: Any) -> ssl.SSLContext:
    """Verify against the map's CA bundle (geventhttpclient passes its own cafile: ignored)."""
    return ssl.create_default_context(cafile=os.environ.get(CA_BUNDLE_ENV) or None)


BASE_URL = provider_base_url(os.environ[SYSTEM_MAP_ENV]) if os.environ.get(SYSTEM_MAP_ENV) else ""


class ProviderBillingUser(FastHttpUser):
    """One synthetic provider's register -> list -> bill, one iteration per period, at its own
    random phase (:mod:`locust_pacing`)."""

    host = "https://127.0.0.1"  # every request uses an absolute URL from the system map
    insecure = False
    ssl_context_factory = staticmethod(_ssl_context)
    network_timeout = 10.0
    connection_timeout = 5.0

    def on_start(self) -> None:
        if not BASE_URL:
            raise RuntimeError(f"{SYSTEM_MAP_ENV} names no system map")
        self._authorization = f"Bearer {TOKEN_FILE.read_text(encoding='utf-8').strip()}"
        self._pacer = Pacer.at_random_phase(RATE_PER_USER)
        time.sleep(self._pacer.wait_s())  # locust runs under gevent: this yields

    def wait_time(self) -> float:
        return self._pacer.wait_s()

    def _post(self, route: str, body: dict[str, Any]) -> None:
        headers = {
            **SYNTHETIC_HEADERS,
            "Authorization": self._authorization,
            "X-Trace-Id": _trace_id(),
            "X-Idempotency-Key": str(uuid.uuid4()),
        }
        self.client.post(BASE_URL + route, json=body, headers=headers, name=f"A6 {route}")

    @task
    def register_list_bill(self) -> None:
        self._post("/v1/providers", {"display_name": "QA Load Provider"})
        self._post("/v1/listings", {"title": "Load test listing", "price_cents": 1500})
        self._post("/v1/billing", dict(BILL))
