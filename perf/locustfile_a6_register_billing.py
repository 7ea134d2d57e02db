"""The B2B billing load (the seed's k6 script ``a6_register_billing.js``): register, list, bill.

Run by ``plugin/secondconf/checks/load/a6_billing.py`` through the baseline's locust runner
(``.venv-locust/bin/locust``, its own process). Reads the system map, CA bundle and rate
(iterations per second per user, default 1) as :mod:`locust_synthetic` says, and the
synthetic provider's bearer token from the file ``provider_token`` in locust's working
directory (the harness writes it there, mode 0600, and deletes it after the run: no secret
travels in the environment).

Each iteration, as ``test_provider_e2e_01`` (contract §5), with the synthetic tags, a fresh
``X-Trace-Id`` and a fresh ``X-Idempotency-Key`` per request:

* ``POST /v1/providers``: registers the provider (201 the first time, 200 after);
* ``POST /v1/listings``: creates a draft listing;
* ``POST /v1/billing``: bills 16.50 USD with 12 cents of A4 work (fee 50, billed 48),
  a Stripe charge each time.

Requests are named ``"A6 <route>"`` so locust keeps its stats per endpoint.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from locust import task
from locust_synthetic import SYSTEM_MAP_ENV, PacedSyntheticUser, rate_from_env, system_map

TOKEN_FILE = Path("provider_token")
PROVIDER_APP = "A6"
BILL = {"gross_cents": 1650, "work_cost_cents": 12}


def provider_base_url(system_map: dict[str, Any]) -> str:
    """A6's base URL from the system map."""
    return str(system_map["apps"][PROVIDER_APP]["base_url"]).rstrip("/")


_MAP = system_map()
BASE_URL = provider_base_url(_MAP) if _MAP is not None else ""


class ProviderBillingUser(PacedSyntheticUser):
    """One synthetic provider's register -> list -> bill, one iteration per period, at its own
    random phase (:mod:`locust_pacing`)."""

    rate_per_user = rate_from_env(default=1.0)

    def on_start(self) -> None:
        if not BASE_URL:
            raise RuntimeError(f"{SYSTEM_MAP_ENV} names no system map")
        self._authorization = f"Bearer {TOKEN_FILE.read_text(encoding='utf-8').strip()}"
        super().on_start()

    def _post(self, route: str, body: dict[str, Any]) -> None:
        headers = {
            **self.synthetic_headers(),
            "Authorization": self._authorization,
            "X-Idempotency-Key": str(uuid.uuid4()),
        }
        self.client.post(BASE_URL + route, json=body, headers=headers, name=f"A6 {route}")

    @task
    def register_list_bill(self) -> None:
        self._post("/v1/providers", {"display_name": "QA Load Provider"})
        self._post("/v1/listings", {"title": "Load test listing", "price_cents": 1500})
        self._post("/v1/billing", dict(BILL))
