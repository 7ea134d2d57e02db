"""The app side of telemetry: ``emit()`` on the request path, delivery to A8 off it.

A8 being slow or down must never fail or slow a request, so ``emit`` only touches memory
(and, for money, one small SQLite insert) and returns; a background asyncio task batches
events and POSTs them as JSON arrays to ``{a8_url}/v1/events``.

What happens to an event, in order:

1. sampling (§6) by trace id: a sampled-out event is dropped here, at the source
   (``dropped_sampling``); a kept one carries the ``sample_rate`` it was kept with;
2. money events (``MONEY_EVENTS``) go to the finance spool and are retried with
   exponential backoff and jitter until A8 acknowledges them, across A8 outages and (with
   ``spool_path``) process restarts; they are never dropped by a fault or by overflow;
3. the dropped-telemetry fault (``set_drop_fraction``) drops the chosen fraction of the
   remaining events by trace (``sampling.is_dropped_by_fault``) (``dropped_fault``);
4. the bounded queue: when it is full the new event is dropped (``dropped_overflow``).
   Events of a failed POST go back to the front of the queue while there is room.

Backoff waits use the event loop's monotonic time, not the platform clock: a
``clock_offset_s`` fault must move timestamps, not stall delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import secrets
import ssl
import threading
from collections import deque
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import httpx

from reftarget.clock import Clock
from reftarget.telemetry.sampling import is_dropped_by_fault, is_sampled_in, sample_rate_for
from reftarget.telemetry.schema import EVENT_FIELDS, MONEY_EVENTS, Event, make_tags, new_event_id
from reftarget.telemetry.spool import FinanceSpool
from reftarget.telemetry.timestamps import format_timestamp

log = logging.getLogger("reftarget.telemetry.emitter")

COUNTERS: Final[tuple[str, ...]] = (
    "emitted",  # every emit() call
    "sent",  # A8 acknowledged (accepted or already held)
    "rejected",  # A8 (or serialisation) refused the event as invalid; not retried
    "dropped_sampling",  # sampled out at the source (§6)
    "dropped_fault",  # the dropped-telemetry fault
    "dropped_overflow",  # the queue was full
    "dropped_closed",  # emitted after aclose(), or still queued when it ended (money stays spooled)
    "send_failures",  # POSTs that failed (transport error or non-2xx); each is retried
)

Verify = ssl.SSLContext | str | os.PathLike[str] | bool


def new_trace_id() -> str:
    """A random W3C trace id (never all zeros), for events no request caused."""
    while True:
        trace_id = secrets.token_hex(16)
        if trace_id != "0" * 32:
            return trace_id


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, Decimal):
        return str(value)  # exact; the schema takes decimal strings for rates
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps_event(event: Mapping[str, Any]) -> str:
    """Compact JSON text of one event (ASCII-escaped, so a bad string fails alone at A8)."""
    return json.dumps(event, separators=(",", ":"), allow_nan=False, default=_json_default)


def _ssl_context(verify: Verify) -> ssl.SSLContext | bool:
    # httpx 0.28 deprecates verify=<path>; build the context ourselves.
    if isinstance(verify, str | os.PathLike):
        path = Path(verify)
        if path.is_dir():
            return ssl.create_default_context(capath=str(path))
        return ssl.create_default_context(cafile=str(path))
    return verify


class TelemetryEmitter:
    """Batched, off-request-path delivery of one app's events to A8."""

    def __init__(
        self,
        a8_url: str,
        api_key: str,
        *,
        verify: Verify = True,
        app_id: str,
        env: str,
        clock: Clock,
        batch_size: int = 100,
        flush_interval_s: float = 0.2,
        spool_path: Path | str | None = None,
        max_queue: int = 10_000,
        request_timeout_s: float = 2.0,
        retry_base_s: float = 0.2,
        retry_cap_s: float = 10.0,
        close_timeout_s: float = 5.0,
        rng: random.Random | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if batch_size < 1 or max_queue < 1:
            raise ValueError("batch_size and max_queue must be positive")
        self._url = a8_url.rstrip("/") + "/v1/events"
        self._headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        self._verify = _ssl_context(verify)
        self._transport = transport
        self._app_id = app_id
        self._env = env
        self._clock = clock
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._max_queue = max_queue
        self._timeout_s = request_timeout_s
        self._retry_base_s = retry_base_s
        self._retry_cap_s = retry_cap_s
        self._close_timeout_s = close_timeout_s
        self._rng = rng or random.Random()
        self._spool = FinanceSpool(spool_path, clock)
        self._queue: deque[Event] = deque()
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(COUNTERS, 0)
        self._drop_fraction = 0.0
        self._closing = False
        self._closed = False
        self._pending_at_close = 0
        self._failures = 0  # consecutive failed POSTs, for the backoff
        self._retry_at = 0.0  # loop time before which no POST is attempted
        self._close_deadline: float | None = None  # loop time by which aclose() must finish
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    # -- request path -----------------------------------------------------------------

    def emit(self, event: Mapping[str, Any]) -> None:
        """Hand one event over for delivery. O(1); never blocks on A8, never raises.

        Missing fields are filled (``timestamp`` now, this app's ``app_id``, a new
        ``trace_id``, a new ``event_id``, default ``tags`` with this env); ``sample_rate`` is
        always set here. The event keeps its ``event_id`` through every re-send (queue,
        spool), which is what lets A8 store a re-sent batch once.
        """
        with self._lock:
            self._counts["emitted"] += 1
        try:
            self._emit(event)
        except Exception:
            with self._lock:
                self._counts["rejected"] += 1
            log.exception("telemetry event could not be emitted")

    def set_drop_fraction(self, fraction: float) -> None:
        """The "dropped telemetry fraction" fault: drop that share of non-money events."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"drop fraction must be within [0, 1], got {fraction!r}")
        self._drop_fraction = float(fraction)

    @property
    def drop_fraction(self) -> float:
        return self._drop_fraction

    def counters(self) -> dict[str, int]:
        """A snapshot: the ``COUNTERS`` plus ``queued`` and ``pending_finance``."""
        with self._lock:
            snapshot = dict(self._counts)
            snapshot["queued"] = len(self._queue)
            closed = self._closed
        snapshot["pending_finance"] = self._pending_at_close if closed else self._spool.pending()
        return snapshot

    def _emit(self, source: Mapping[str, Any]) -> None:
        event = self._complete(source)
        name, trace_id, status = event["event"], event["trace_id"], event["status"]
        rate = sample_rate_for(str(name), status if isinstance(status, int) else None)
        with self._lock:
            if self._closed:
                self._counts["dropped_closed"] += 1
                return
        try:
            kept = is_sampled_in(str(trace_id), rate)
        except ValueError:
            kept = True  # a malformed id is A8's to reject, visibly, not ours to hide
        if not kept:
            with self._lock:
                self._counts["dropped_sampling"] += 1
            return
        event["sample_rate"] = rate
        if name in MONEY_EVENTS:
            self._spool.add(dumps_event(event))
            return
        try:
            faulted = is_dropped_by_fault(str(trace_id), self._drop_fraction)
        except ValueError:
            faulted = False
        with self._lock:
            if faulted:
                self._counts["dropped_fault"] += 1
                return
            if len(self._queue) >= self._max_queue:
                self._counts["dropped_overflow"] += 1
                return
            self._queue.append(event)
            batch_ready = len(self._queue) == self._batch_size
        if batch_ready:
            self._wake_sender()

    def _complete(self, source: Mapping[str, Any]) -> Event:
        event: Event = {name: source.get(name) for name in EVENT_FIELDS}
        event.update((k, v) for k, v in source.items() if k not in event)
        if event["timestamp"] is None:
            event["timestamp"] = format_timestamp(self._clock.now())
        elif isinstance(event["timestamp"], datetime):
            event["timestamp"] = format_timestamp(event["timestamp"])
        if event["app_id"] is None:
            event["app_id"] = self._app_id
        if event["trace_id"] is None:
            event["trace_id"] = new_trace_id()
        if event["event_id"] is None:
            event["event_id"] = new_event_id()
        tags = event["tags"]
        if tags is None:
            event["tags"] = make_tags(env=self._env)
        elif isinstance(tags, Mapping):
            event["tags"] = make_tags(env=self._env) | dict(tags)
        return event

    def _wake_sender(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake.set()
        else:  # emit() from a worker thread (sync endpoint)
            loop.call_soon_threadsafe(wake.set)

    # -- delivery ---------------------------------------------------------------------

    async def start(self) -> None:
        """Start the background sender on the running loop (idempotent)."""
        if self._task is not None or self._closing:
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._ensure_client()
        self._task = asyncio.create_task(self._run(), name="telemetry-emitter")

    async def aclose(self) -> None:
        """Stop the sender after one last flush of everything queued, within ``close_timeout_s``.

        Money events A8 did not take stay in the spool for the next process. The deadline is
        enforced through each POST's own timeout rather than by cancelling it: a request
        cancelled mid-TLS-handshake leaks its socket (httpcore closes a stream on errors,
        not on cancellation). Cancellation is only the last resort, when an in-flight POST
        started with ``request_timeout_s`` outlives the deadline (keep it below
        ``close_timeout_s``, as the defaults are).
        """
        if self._closing:
            return
        self._closing = True
        loop = asyncio.get_running_loop()
        self._close_deadline = deadline = loop.time() + self._close_timeout_s
        if self._task is not None and self._wake is not None:
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=self._close_timeout_s)
            except TimeoutError:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
        client = self._ensure_client()
        try:
            await asyncio.wait_for(self._drain(), timeout=max(0.0, deadline - loop.time()) + 1.0)
        except TimeoutError:
            log.warning("telemetry flush on close timed out")
        except Exception:
            log.exception("telemetry flush on close failed")
        with self._lock:
            self._closed = True
            self._counts["dropped_closed"] += len(self._queue)
            self._queue.clear()
        try:
            self._pending_at_close = self._spool.pending()
        finally:
            self._spool.close()
            await client.aclose()

    def _post_timeout(self) -> float | None:
        """This POST's timeout: ``request_timeout_s``, cut to what is left when closing.

        ``None`` means the close deadline has passed: no further POST is started.
        """
        if self._close_deadline is None:
            return self._timeout_s
        left = self._close_deadline - asyncio.get_running_loop().time()
        return None if left <= 0.01 else min(self._timeout_s, left)

    def _ensure_client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                verify=self._verify, timeout=self._timeout_s, transport=self._transport
            )
        return self._client

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._wake is not None
        while not self._closing:
            delay = max(self._flush_interval_s, self._retry_at - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            self._wake.clear()
            if self._closing or loop.time() < self._retry_at:
                continue
            try:
                await self._drain()
            except Exception:  # the sender must outlive any bug in one batch
                log.exception("telemetry sender error")

    async def _drain(self) -> None:
        """Send batches until nothing is left or a POST fails (then back off)."""
        for _ in range(self._max_queue // self._batch_size + 100):
            money = self._spool.due(self._batch_size)
            with self._lock:
                room = self._batch_size - len(money)
                others = [self._queue.popleft() for _ in range(min(room, len(self._queue)))]
            if not money and not others:
                return
            if not await self._send(money, others):
                return

    async def _send(self, money: list[tuple[int, str]], others: list[Event]) -> bool:
        texts = [body for _, body in money]
        kept: list[Event] = []
        for event in others:
            try:
                texts.append(dumps_event(event))
                kept.append(event)
            except (TypeError, ValueError) as exc:
                log.error("telemetry event is not JSON, dropped: %s", exc)
                with self._lock:
                    self._counts["rejected"] += 1
        if not texts:
            return True
        timeout = self._post_timeout()
        if timeout is None:
            self._requeue(kept)
            return False
        client = self._ensure_client()
        try:
            response = await client.post(
                self._url,
                content=("[" + ",".join(texts) + "]").encode(),
                headers=self._headers,
                timeout=timeout,
            )
        except httpx.HTTPError as exc:
            return self._failed(money, kept, f"{type(exc).__name__}: {exc}")
        except asyncio.CancelledError:  # aclose() gave up on a hanging A8: keep the batch
            self._requeue(kept)
            raise
        if not response.is_success:
            return self._failed(money, kept, f"HTTP {response.status_code}")
        outcomes = _outcomes(response, len(texts))
        refused = 0
        for (entry_id, _), (outcome, problems) in zip(money, outcomes, strict=False):
            if outcome == "rejected":
                refused += 1
                self._spool.reject(entry_id, problems)
                log.error("A8 rejected a finance event: %s", "; ".join(problems))
            else:
                self._spool.settle([entry_id])
        for outcome, problems in outcomes[len(money) :]:
            if outcome == "rejected":
                refused += 1
                log.warning("A8 rejected an event: %s", "; ".join(problems))
        with self._lock:
            self._counts["sent"] += len(texts) - refused
            self._counts["rejected"] += refused
        if self._failures:
            log.warning("A8 reachable again after %d failed attempt(s)", self._failures)
        self._failures = 0
        self._retry_at = 0.0
        return True

    def _failed(self, money: list[tuple[int, str]], others: list[Event], error: str) -> bool:
        self._spool.failed([entry_id for entry_id, _ in money], error)
        with self._lock:
            self._counts["send_failures"] += 1
        self._requeue(others)
        self._failures += 1
        delay = min(self._retry_cap_s, self._retry_base_s * 2 ** (self._failures - 1))
        delay = delay / 2 + self._rng.uniform(0, delay / 2)  # "equal jitter"
        loop = asyncio.get_running_loop()
        self._retry_at = loop.time() + delay
        if self._failures == 1:
            log.warning("A8 unreachable (%s); retrying with backoff", error)
        return False

    def _requeue(self, events: list[Event]) -> None:
        """Put an unsent batch back at the front of the queue, as far as there is room."""
        with self._lock:
            room = max(0, self._max_queue - len(self._queue))
            self._counts["dropped_overflow"] += max(0, len(events) - room)
            self._queue.extendleft(reversed(events[:room]))


def _outcomes(response: httpx.Response, count: int) -> list[tuple[str, list[str]]]:
    """Per-item outcomes from A8's answer; a 2xx without them means all were taken."""
    default: list[tuple[str, list[str]]] = [("accepted", [])] * count
    try:
        body = response.json()
    except ValueError:
        return default
    items = body.get("results") if isinstance(body, dict) else None
    if not isinstance(items, list) or len(items) != count:
        return default
    outcomes: list[tuple[str, list[str]]] = []
    for item in items:
        outcome = item.get("outcome") if isinstance(item, dict) else None
        problems = item.get("problems") if isinstance(item, dict) else None
        outcomes.append(
            (
                outcome if outcome in ("accepted", "duplicate", "rejected") else "accepted",
                [str(p) for p in problems] if isinstance(problems, list) else [],
            )
        )
    return outcomes
