"""``/ready``: dependency checks, cached for a second so probes stay cheap and fast.

Each check is an async callable that returns ``None`` when the dependency answers and a
short reason otherwise. Concurrent probes share one evaluation; the fault-driven states
(``ready_fails``, a cold start) are read live so a fault shows on the very next probe.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping

import httpx

from reftarget.core.faults import Faults

ReadyCheck = Callable[[], Awaitable[str | None]]

CACHE_S = 1.0
CHECK_TIMEOUT_S = 2.0


def database_check(conn: sqlite3.Connection) -> ReadyCheck:
    """The app's own SQLite file answers a query."""

    async def check() -> str | None:
        try:
            conn.execute("SELECT 1").fetchone()
        except sqlite3.Error as exc:
            return f"database error: {exc}"
        return None

    return check


def http_check(
    url: str, http: httpx.AsyncClient, headers: dict[str, str] | None = None
) -> ReadyCheck:
    """``GET url`` answers 200 within ``CHECK_TIMEOUT_S`` (A1's JWKS, A8's health, Stripe).

    Through the app's shared client: a probe every second must not cost a TLS handshake.
    """

    async def check() -> str | None:
        try:
            response = await http.get(url, headers=headers, timeout=CHECK_TIMEOUT_S)
        except httpx.HTTPError as exc:
            return f"unreachable: {type(exc).__name__}"
        return None if response.status_code == 200 else f"answered {response.status_code}"

    return check


class Readiness:
    """Evaluates the checks of one app."""

    def __init__(self, checks: Mapping[str, ReadyCheck], faults: Faults) -> None:
        self._checks = dict(checks)
        self._faults = faults
        self._cached: dict[str, str] | None = None
        self._cached_at = float("-inf")
        self._lock = asyncio.Lock()

    async def _dependency_results(self) -> dict[str, str]:
        async with self._lock:
            if self._cached is not None and time.monotonic() - self._cached_at < CACHE_S:
                return self._cached
            names = list(self._checks)
            outcomes = await asyncio.gather(*(self._checks[name]() for name in names))
            self._cached = {
                name: "ok" if outcome is None else outcome
                for name, outcome in zip(names, outcomes, strict=True)
            }
            self._cached_at = time.monotonic()
            return self._cached

    async def evaluate(self) -> tuple[bool, dict[str, str]]:
        """(ready?, per-check result: ``"ok"`` or the reason it failed)."""
        results = dict(await self._dependency_results())
        warming = self._faults.cold_start_remaining_s()
        if warming > 0:
            results["warmup"] = f"starting, ready in {warming:.1f} s"
        if self._faults.settings.ready_fails:
            results["fault"] = "not ready (ready_fails fault)"
        return all(value == "ok" for value in results.values()), results
