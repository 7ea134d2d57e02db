"""The emitter against A8 served for real: batching, sampling at the source, outages, faults."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from reftarget.clock import SystemClock
from reftarget.telemetry import (
    TelemetryEmitter,
    TelemetryStore,
    a8_routes,
    is_dropped_by_fault,
    make_event,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.ecosystem.telemetry.telemetry_testkit import (
    A8_KEY,
    A8Server,
    Tls,
    eventually,
    finance,
    trace,
)

pytestmark = pytest.mark.asyncio

FAST = {"flush_interval_s": 0.02, "retry_base_s": 0.02, "retry_cap_s": 0.1}


def emitter(url: str, tls: Tls, **options: Any) -> TelemetryEmitter:
    settings: dict[str, Any] = FAST | {"request_timeout_s": 2.0, "close_timeout_s": 2.0}
    return TelemetryEmitter(
        url,
        A8_KEY,
        verify=tls.client,
        app_id="A7",
        env="embedded",
        clock=SystemClock(),
        **(settings | options),
    )


def held(a8: A8Server, **filters: Any) -> int:
    return int(a8.store.events(**filters)["count"])


def random_ids(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.getrandbits(128) | 1:032x}" for _ in range(n)]


def money(n: int) -> dict[str, Any]:
    """A checkout_completed as an app would hand it over (emitter fills the rest)."""
    metrics = finance()["finance_metrics"]
    return make_event(
        event="checkout_completed",
        trace_id=trace(2**64 - 1 - n),  # an id every rate below 1 would drop
        revenue_event_id=f"rev_{n}",
        finance_metrics=metrics,
        app_id="A2",
    )


async def test_events_arrive_in_batches(a8: A8Server, tls: Tls) -> None:
    sender = emitter(a8.url, tls, batch_size=10)
    await sender.start()
    for trace_id in random_ids(25):
        sender.emit(make_event(event="page_published", trace_id=trace_id))
    await eventually(lambda: held(a8) == 25)
    await sender.aclose()
    assert 3 <= a8.app.posts <= 5  # ceil(25 / 10) POSTs, not 25
    assert sender.counters()["sent"] == 25
    stored = a8.store.events()["events"][0]
    assert (stored["app_id"], stored["sample_rate"], stored["tags"]["env"]) == (
        "A7",
        1.0,
        "embedded",
    )


async def test_emit_from_a_worker_thread_is_delivered(a8: A8Server, tls: Tls) -> None:
    sender = emitter(a8.url, tls, batch_size=5, flush_interval_s=60.0)  # only a full batch wakes it
    await sender.start()

    def sync_endpoint() -> None:  # Starlette runs sync endpoints in a thread pool
        for trace_id in random_ids(5):
            sender.emit(make_event(event="cta_emitted", trace_id=trace_id))

    await asyncio.to_thread(sync_endpoint)
    await eventually(lambda: held(a8) == 5)
    await sender.aclose()


async def test_sampled_out_events_are_dropped_at_the_source(a8: A8Server, tls: Tls) -> None:
    sender = emitter(a8.url, tls)
    await sender.start()
    kept, dropped = trace(0), [trace(2**64 - 1 - n) for n in range(5)]
    for trace_id in [kept, *dropped]:
        sender.emit(
            make_event(
                event="http_request", route="/", status=200, latency_ms=1.0, trace_id=trace_id
            )
        )
    await sender.aclose()
    assert [e["trace_id"] for e in a8.store.events()["events"]] == [kept]
    assert a8.store.events()["events"][0]["sample_rate"] == 0.1
    assert sender.counters()["dropped_sampling"] == 5
    assert a8.app.posts == 1  # the dropped ones never left the process


def checkout_app(sender: TelemetryEmitter) -> Starlette:
    """A request path that emits a money event and a business event per request."""

    async def checkout(request: Request) -> JSONResponse:
        sender.emit(money(int(request.path_params["n"])))
        sender.emit(make_event(event="page_published"))
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/pay/{n:int}", checkout, methods=["POST"])])


async def time_requests(app: Starlette, count: int) -> list[float]:
    timings = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        for n in range(count):
            started = time.perf_counter()
            assert (await client.post(f"/pay/{n}")).status_code == 200
            timings.append(time.perf_counter() - started)
    return timings


async def test_a8_down_never_slows_the_request_path(closed_url: str, tls: Tls) -> None:
    sender = emitter(closed_url, tls)
    await sender.start()
    timings = await time_requests(checkout_app(sender), 40)
    await eventually(lambda: sender.counters()["send_failures"] >= 2)
    started = time.perf_counter()
    for _ in range(1000):
        sender.emit(make_event(event="page_published"))
    emitting = time.perf_counter() - started
    await sender.aclose()
    assert statistics.median(timings) < 0.05, timings
    assert max(timings) < 0.5, timings  # generous: a loaded CI box, not a network wait
    assert emitting < 0.25  # 1000 emits while A8 refuses connections
    assert sender.counters()["pending_finance"] == 40


async def test_a_hanging_a8_never_slows_requests_and_close_is_bounded(tls: Tls) -> None:
    with socket.socket() as silent:  # accepts TCP connections, never answers TLS
        silent.bind(("127.0.0.1", 0))
        silent.listen(100)
        url = f"https://127.0.0.1:{silent.getsockname()[1]}"
        sender = emitter(url, tls, request_timeout_s=0.8, close_timeout_s=1.0, batch_size=1)
        await sender.start()
        timings = await time_requests(checkout_app(sender), 20)
        started = time.perf_counter()
        await sender.aclose()
        closing = time.perf_counter() - started
    assert max(timings) < 0.4, timings  # a request never waits for A8's 0.8 s timeout
    assert closing < 3.0  # close_timeout_s (1 s), plus slack for a loaded CI box
    counts = sender.counters()
    assert (counts["pending_finance"], counts["sent"]) == (20, 0)
    assert counts["dropped_closed"] == 20  # unsent business events are counted, not lost silently


async def test_finance_events_are_retried_until_a8_comes_back(
    a8_factory: Callable[..., A8Server], tls: Tls
) -> None:
    a8 = a8_factory(start=False)  # its port is bound, nobody listens yet
    sender = emitter(a8.url, tls)
    await sender.start()
    sender.emit(money(1))
    await eventually(lambda: sender.counters()["send_failures"] >= 2)
    assert sender.counters()["pending_finance"] == 1
    a8.start()
    await eventually(lambda: held(a8, event="checkout_completed") == 1)
    await eventually(lambda: sender.counters()["pending_finance"] == 0)
    await sender.aclose()
    assert held(a8) == 1


async def test_finance_events_survive_a_restart(
    a8_factory: Callable[..., A8Server], closed_url: str, tls: Tls, tmp_path: Path
) -> None:
    spool = tmp_path / "finance-spool.db"
    first = emitter(closed_url, tls, spool_path=spool, close_timeout_s=0.5)
    await first.start()
    first.emit(money(1))
    first.emit(money(2))
    await first.aclose()  # A8 never answered: the process "exits" with money unsent
    assert first.counters()["pending_finance"] == 2

    a8 = a8_factory()
    second = emitter(a8.url, tls, spool_path=spool)
    await second.start()
    await eventually(lambda: held(a8, event="checkout_completed") == 2)
    await second.aclose()
    assert second.counters()["pending_finance"] == 0


async def test_drop_fraction_drops_that_share_of_non_finance_events_only(
    a8: A8Server, tls: Tls
) -> None:
    sender = emitter(a8.url, tls, batch_size=500)
    sender.set_drop_fraction(0.3)
    await sender.start()
    ids = random_ids(1000, seed=5)
    for trace_id in ids:
        sender.emit(make_event(event="page_published", trace_id=trace_id))
    for n in range(20):
        sender.emit(money(n))
    await sender.aclose()
    dropped = sender.counters()["dropped_fault"]
    assert 230 <= dropped <= 370  # 30 % of 1000, within 5 sigma
    assert dropped == sum(is_dropped_by_fault(t, 0.3) for t in ids)  # exactly the predicted ones
    assert held(a8, event="checkout_completed") == 20  # money is never dropped
    assert held(a8, event="page_published") == 1000 - dropped


async def test_aclose_flushes_what_is_queued(a8: A8Server, tls: Tls) -> None:
    sender = emitter(a8.url, tls, flush_interval_s=60.0, batch_size=1000)
    await sender.start()
    for trace_id in random_ids(7):
        sender.emit(make_event(event="cta_emitted", trace_id=trace_id))
    sender.emit(money(1))
    await sender.aclose()
    assert held(a8) == 8
    assert sender.counters()["dropped_closed"] == 0


async def test_events_a8_rejects_are_counted_not_retried(a8: A8Server, tls: Tls) -> None:
    sender = emitter(a8.url, tls)
    await sender.start()
    sender.emit(make_event(event="cta_emitted", app_id="A7") | {"app_id": "A9"})
    await eventually(lambda: sender.counters()["rejected"] == 1)
    posts = a8.app.posts
    await sender.aclose()
    assert a8.app.posts == posts
    assert sender.counters()["sent"] == 0


async def test_emit_never_raises(tls: Tls, closed_url: str) -> None:
    sender = emitter(closed_url, tls)
    sender.emit("not an event")  # type: ignore[arg-type]
    sender.emit({"event": "page_published", "timestamp": object()})
    sender.emit({"event": "page_published", "trace_id": "bogus"})
    assert sender.counters()["emitted"] == 3
    await sender.aclose()


async def test_a_full_queue_drops_new_events_but_never_money(closed_url: str, tls: Tls) -> None:
    sender = emitter(closed_url, tls, max_queue=5, close_timeout_s=0.3)  # not started
    for trace_id in random_ids(8):
        sender.emit(make_event(event="page_published", trace_id=trace_id))
    sender.emit(money(1))
    counts = sender.counters()
    assert (counts["queued"], counts["dropped_overflow"], counts["pending_finance"]) == (5, 3, 1)
    await sender.aclose()


class AnswerLostOnce(httpx.AsyncBaseTransport):
    """A8 in-process; the answer to the first POST is lost after A8 stored the batch."""

    def __init__(self, store: TelemetryStore) -> None:
        self.inner = httpx.ASGITransport(app=Starlette(routes=a8_routes(store, A8_KEY)))
        self.batches: list[list[dict[str, Any]]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        answer = await self.inner.handle_async_request(request)
        await answer.aread()
        self.batches.append(json.loads(await request.aread()))
        return httpx.Response(503) if len(self.batches) == 1 else answer


async def test_a_batch_re_sent_after_a_lost_answer_is_stored_once(tls: Tls, tmp_path: Path) -> None:
    store = TelemetryStore(tmp_path / "a8.db", SystemClock())
    transport = AnswerLostOnce(store)
    sender = emitter("https://a8.invalid", tls, transport=transport)
    for trace_id in random_ids(3):  # no idempotency keys: A8 dedupes them by event_id
        sender.emit(make_event(event="cta_emitted", trace_id=trace_id))
    await sender.start()
    await eventually(lambda: sender.counters()["sent"] == 3)
    await sender.aclose()
    first, again = transport.batches
    ids = [e["event_id"] for e in first]
    assert len(set(ids)) == 3  # one id per emitted event
    assert [e["event_id"] for e in again] == ids  # the re-send carries the same ids
    assert store.events()["count"] == 3
    store.close()
