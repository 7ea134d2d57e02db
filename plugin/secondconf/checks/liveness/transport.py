"""How a probe goes out: one GET, its status and body, or a typed failure.

The liveness prober sends thousands of small GETs a second, so its HTTP stack decides how
fast it can go before its own event loop falls behind (docs/perf.md: httpx costs about
1.5–3 ms of CPU per probe, aiohttp about 0.2 ms, both over TLS with keep-alive). The
prober therefore talks to a :class:`ProbeClient`: :class:`AiohttpProbeClient` is what the
liveness check uses; :class:`HttpxProbeClient` wraps the harness's guarded httpx client
(for tests and for callers that already hold one).

Both keep the harness's rules for what leaves the process: a probe is a GET, which the
production guard allows in every environment (contract §5), carries a fresh trace id and
the synthetic tags, and goes only to the origins of the system map (its URLs come from
the map), verified against the map's CA bundle. No credential is ever attached.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    import aiohttp
    import httpx

# Why a probe failed before it had an answer. "pool": the harness's own connection pool
# was exhausted (a harness limit, still not a success).
TransportError = Literal["connect", "timeout", "pool", "transport"]

MAX_CONNECTIONS_PER_ORIGIN = 256  # keep-alive connections the prober may open to one app


class ProbeFailure(Exception):
    """The probe got no answer; ``kind`` says why (never the target's words)."""

    def __init__(self, kind: TransportError) -> None:
        super().__init__(kind)
        self.kind: TransportError = kind


@dataclass(frozen=True, slots=True)
class ProbeAnswer:
    status: int
    body: bytes


class ProbeClient(Protocol):
    async def get(self, url: str, headers: Mapping[str, str], timeout_s: float) -> ProbeAnswer:
        """GET ``url``; :class:`ProbeFailure` when there is no answer within ``timeout_s``."""
        ...


class AiohttpProbeClient:
    """aiohttp with keep-alive per origin, verified against ``ca_bundle`` (None: the
    system's trust store). Use as ``async with AiohttpProbeClient(...) as client``."""

    def __init__(self, ca_bundle: Path | None) -> None:
        self._ca_bundle = ca_bundle
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AiohttpProbeClient:
        import aiohttp

        context = ssl.create_default_context(
            cafile=str(self._ca_bundle) if self._ca_bundle else None
        )
        connector = aiohttp.TCPConnector(
            ssl=context, limit=0, limit_per_host=MAX_CONNECTIONS_PER_ORIGIN, ttl_dns_cache=None
        )
        self._session = aiohttp.ClientSession(
            connector=connector, trust_env=False, auto_decompress=False, cookie_jar=None
        )
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()

    async def get(self, url: str, headers: Mapping[str, str], timeout_s: float) -> ProbeAnswer:
        import aiohttp

        if self._session is None:
            raise RuntimeError("AiohttpProbeClient used outside `async with`")
        try:
            async with self._session.get(
                url,
                headers=dict(headers),
                timeout=aiohttp.ClientTimeout(total=timeout_s),
                allow_redirects=False,
            ) as response:
                return ProbeAnswer(response.status, await response.read())
        except TimeoutError:
            raise ProbeFailure("timeout") from None
        except aiohttp.ClientConnectorError:
            raise ProbeFailure("connect") from None
        except (aiohttp.ClientError, OSError):
            raise ProbeFailure("transport") from None


class HttpxProbeClient:
    """The harness's guarded httpx client as a probe client."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def get(self, url: str, headers: Mapping[str, str], timeout_s: float) -> ProbeAnswer:
        import httpx

        try:
            # httpx's own timeout, not a cancellation: cancelling a request mid-handshake
            # leaks its socket. httpx's timeout is per phase; the prober checks the total.
            response = await self._client.get(url, headers=dict(headers), timeout=timeout_s)
        except httpx.PoolTimeout:
            raise ProbeFailure("pool") from None
        except httpx.TimeoutException:
            raise ProbeFailure("timeout") from None
        except httpx.ConnectError:
            raise ProbeFailure("connect") from None
        except httpx.RequestError:
            raise ProbeFailure("transport") from None
        return ProbeAnswer(response.status_code, response.content)
