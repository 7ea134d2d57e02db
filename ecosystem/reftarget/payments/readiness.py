"""Waiting for the embedded Stripe server (``stripe_server``) to serve.

Its own module so that the package can export ``wait_ready`` without importing
``stripe_server``, which ``python -m`` runs as ``__main__`` (importing it twice warns).
"""

from __future__ import annotations

import time

import httpx

__all__ = ["wait_ready"]

_PROBE_API_KEY = "sk_test_reftarget_ready_probe"  # localstripe accepts any "sk_…" key
_POLL_INTERVAL_S = 0.05


def wait_ready(api_base: str, timeout_s: float = 10.0) -> None:
    """Block until the server at ``api_base`` answers ``GET /v1/prices`` with 200.

    The Price route is the shim's, so a 200 means localstripe and the shim both serve (plain
    localstripe answers 404). Raises ``TimeoutError``, with the last error seen, when it does
    not answer within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    url = api_base.rstrip("/") + "/v1/prices"
    last = "no attempt"
    # trust_env=False: a proxy from the environment must never sit between us and loopback.
    with httpx.Client(trust_env=False, timeout=1.0) as http:
        while True:
            try:
                answer = http.get(
                    url,
                    params={"limit": "1"},
                    headers={"Authorization": f"Bearer {_PROBE_API_KEY}"},
                )
                if answer.status_code == 200:
                    return
                last = f"HTTP {answer.status_code}"
            except httpx.HTTPError as error:
                last = f"{type(error).__name__}: {error}"
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{url} not ready after {timeout_s} s ({last})")
            time.sleep(_POLL_INTERVAL_S)
