"""What every locust profile in this folder shares: a paced, synthetic, verifying user.

Imported by the profiles (locust puts a locustfile's folder on ``sys.path``). Reads:

* ``SECONDCONF_SYSTEM_MAP``: the system map (contract §2) naming every app's base URL;
* ``SECONDCONF_CA_BUNDLE``: the CA bundle (PEM) that verifies the apps' certificates
  (empty: the system's trust store);
* ``SECONDCONF_BASELINE_RATE_PER_USER``: iterations per second each user aims at (each
  profile has its own default).

:class:`PacedSyntheticUser` verifies the apps' certificates against that bundle, tags every
request synthetic (``X-Test-Run: true``, ``X-Source: qa``) with a fresh ``X-Trace-Id``
(:meth:`~PacedSyntheticUser.synthetic_headers`), and paces itself with
:class:`locust_pacing.Pacer`: its first iteration at a random phase of its period, then one
per period at that phase. Importing this also counts a distributed worker's own totals
(:mod:`locust_worker_totals`).
"""

from __future__ import annotations

import json
import os
import secrets
import ssl
import time
from pathlib import Path
from typing import Any

import locust_worker_totals  # noqa: F401  (a worker's own totals, in distributed runs)
from locust import FastHttpUser
from locust_pacing import Pacer

SYSTEM_MAP_ENV = "SECONDCONF_SYSTEM_MAP"
CA_BUNDLE_ENV = "SECONDCONF_CA_BUNDLE"
RATE_ENV = "SECONDCONF_BASELINE_RATE_PER_USER"
SYNTHETIC_HEADERS = {"X-Test-Run": "true", "X-Source": "qa"}


def system_map() -> dict[str, Any] | None:
    """The system map named by ``SECONDCONF_SYSTEM_MAP``; None when none is named."""
    path = os.environ.get(SYSTEM_MAP_ENV)
    if not path:
        return None
    loaded: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return loaded


def rate_from_env(default: float) -> float:
    """``SECONDCONF_BASELINE_RATE_PER_USER``, else the profile's default."""
    return float(os.environ.get(RATE_ENV, default))


def trace_id() -> str:
    """A fresh W3C trace id: 32 lowercase hex digits, never all zero."""
    while True:
        value = secrets.token_hex(16)
        if value.strip("0"):
            return value


def _ssl_context(*_args: Any, **_kwargs: Any) -> ssl.SSLContext:
    """Verify against the map's CA bundle (geventhttpclient passes its own cafile: ignored)."""
    return ssl.create_default_context(cafile=os.environ.get(CA_BUNDLE_ENV) or None)


class PacedSyntheticUser(FastHttpUser):
    """A user that verifies TLS, tags its requests synthetic, and keeps its own phase.

    A profile sets ``rate_per_user`` and, if it has setup of its own, does it in
    ``on_start`` before calling this one's (which waits out the user's phase).
    """

    abstract = True
    rate_per_user: float = 1.0
    host = "https://127.0.0.1"  # every request uses an absolute URL from the system map
    insecure = False
    ssl_context_factory = staticmethod(_ssl_context)
    network_timeout = 10.0
    connection_timeout = 5.0

    def on_start(self) -> None:
        self._pacer = Pacer.at_random_phase(self.rate_per_user)
        time.sleep(self._pacer.wait_s())  # locust runs under gevent: this yields

    def wait_time(self) -> float:
        return self._pacer.wait_s()

    def synthetic_headers(self) -> dict[str, str]:
        """The synthetic tags and a fresh trace id, for one request."""
        return {**SYNTHETIC_HEADERS, "X-Trace-Id": trace_id()}
