"""A8's store: ingest, dedupe within 900 s, sample-weighted SLO, event search."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from reftarget.telemetry import TelemetryStore
from reftarget.telemetry.timestamps import parse_timestamp

from tests.ecosystem.telemetry.telemetry_testkit import START, FakeClock, event, trace


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[TelemetryStore]:
    opened = TelemetryStore(tmp_path / "a8.db", clock)
    yield opened
    opened.close()


def request(
    n: int, *, status: int = 200, latency: float = 5.0, rate: float = 0.1, **more: Any
) -> dict[str, Any]:
    """An A1 http_request event with a distinct trace per n."""
    fields = {"status": status, "latency_ms": latency, "sample_rate": rate, "trace_id": trace(n)}
    return event("http_request", **({"app_id": "A1"} | fields | more))


def stored(store: TelemetryStore) -> int:
    return int(store.events()["count"])


def test_the_same_event_within_900_s_is_stored_once(
    store: TelemetryStore, clock: FakeClock
) -> None:
    first = store.ingest([event(idempotency_key="k1")])
    clock.advance(899)
    again = store.ingest([event(idempotency_key="k1")])
    assert (first.accepted, again.duplicates, again.accepted) == (1, 1, 0)
    assert stored(store) == 1


def test_the_window_counts_from_the_first_receipt(store: TelemetryStore, clock: FakeClock) -> None:
    store.ingest([event(idempotency_key="k1")])
    clock.advance(600)
    assert store.ingest([event(idempotency_key="k1")]).duplicates == 1  # does not extend it
    clock.advance(300)
    assert store.ingest([event(idempotency_key="k1")]).accepted == 1  # 900 s after the first
    assert stored(store) == 2


def test_same_key_different_trace_is_two_events(store: TelemetryStore) -> None:
    result = store.ingest(
        [
            event(idempotency_key="k1", trace_id=trace(1)),
            event(idempotency_key="k1", trace_id=trace(2)),
        ]
    )
    assert result.accepted == 2


def test_one_trace_crossing_two_apps_keeps_both_requests(store: TelemetryStore) -> None:
    # A5 and the A4 call it makes share the trace; neither request has a key.
    result = store.ingest(
        [request(1, app_id="A5", route="/v1/credits/spend"), request(1, app_id="A4")]
    )
    assert (result.accepted, result.duplicates) == (2, 0)
    assert stored(store) == 2


def test_a_re_sent_batch_without_keys_is_stored_once(
    store: TelemetryStore, clock: FakeClock
) -> None:
    batch = [request(1), request(1), event()]  # two emissions of one trace, one other event
    assert store.ingest(batch).accepted == 3
    assert store.ingest(batch).duplicates == 3  # the answer was lost; the sender re-sends
    clock.advance(901)
    assert store.ingest(batch).duplicates == 3  # an event_id names one emission, for good
    assert stored(store) == 3


def test_keyed_events_are_stored_once_per_event_app_key_and_trace(
    store: TelemetryStore,
) -> None:
    keyed = {"idempotency_key": "k1", "trace_id": trace(1)}
    result = store.ingest(
        [
            event(app_id="A6", **keyed),
            event(app_id="A6", **keyed),  # a new emission (new event_id), same four values
            event(app_id="A7", **keyed),  # the same key and trace from another app
        ]
    )
    assert [i.outcome for i in result.items] == ["accepted", "duplicate", "accepted"]
    assert stored(store) == 2


def test_different_event_names_never_dedupe(store: TelemetryStore) -> None:
    assert store.ingest([event("page_published"), event("page_build_requested")]).accepted == 2


def test_invalid_events_are_rejected_with_reasons_and_valid_ones_kept(
    store: TelemetryStore,
) -> None:
    result = store.ingest([event(), {"event": "nope"}, 42, event(trace_id=trace(9))])
    assert (result.accepted, result.duplicates, result.rejected) == (2, 0, 2)
    assert [i.outcome for i in result.items] == ["accepted", "rejected", "rejected", "accepted"]
    assert result.items[1].problems
    assert result.items[2].problems


def test_sampled_requests_are_weighted(store: TelemetryStore) -> None:
    store.ingest([request(n) for n in range(10)])
    slo = store.slo("A1", "/health")
    assert (slo["samples"], slo["requests"], slo["errors"], slo["error_rate"]) == (10, 100.0, 0, 0)


def test_errors_kept_at_full_rate_count_once(store: TelemetryStore) -> None:
    store.ingest([request(n) for n in range(10)])
    store.ingest([request(100 + n, status=503, rate=1.0) for n in range(5)])
    slo = store.slo("A1", "/health")
    assert (slo["requests"], slo["errors"], slo["error_samples"]) == (105, 5, 5)
    assert slo["error_rate"] == pytest.approx(5 / 105)


def test_p95_is_sample_weighted(store: TelemetryStore) -> None:
    # 19 fast requests kept at 1.0 (a 4xx, say) and one slow one kept at 0.1, standing for 10.
    store.ingest([request(n, status=404, latency=10.0, rate=1.0) for n in range(19)])
    store.ingest([request(99, latency=500.0, rate=0.1)])
    slo = store.slo("A1", "/health")
    assert slo["samples"] == 20
    assert slo["p95_ms"] == 500.0  # unweighted, the 19th of 20 would say 10 ms


def test_no_data_means_null_never_a_healthy_looking_zero(store: TelemetryStore) -> None:
    slo = store.slo("A3", "/v1/runs")
    assert slo["samples"] == 0
    assert slo["requests"] == 0
    assert slo["p95_ms"] is None
    assert slo["error_rate"] is None
    assert slo["generated_at"].endswith("Z")


def test_histogram_has_a_120_ms_edge(store: TelemetryStore) -> None:
    latencies = [100.0, 120.0, 121.0]
    store.ingest([request(n, latency=ms, rate=1.0) for n, ms in enumerate(latencies)])
    buckets = {b["le_ms"]: b["samples"] for b in store.slo("A1")["latency_histogram"]}
    assert (buckets[120], buckets[None]) == (2, 3)


def test_slo_window_uses_event_time_inclusive(store: TelemetryStore) -> None:
    times = ["2026-11-26T03:00:00.000Z", "2026-11-26T03:05:00.000Z", "2026-11-26T03:10:00.000Z"]
    store.ingest([request(n, rate=1.0, timestamp=t) for n, t in enumerate(times)])
    slo = store.slo("A1", "/health", parse_timestamp(times[0]), parse_timestamp(times[1]))
    assert slo["samples"] == 2
    assert slo["since"] == times[0]


def test_slo_is_per_app_and_route(store: TelemetryStore) -> None:
    store.ingest([request(1), request(2, route="/ready"), request(3, app_id="A2")])
    assert store.slo("A1", "/health")["samples"] == 1
    assert store.slo("A1")["samples"] == 2  # route None: every route of the app


def test_events_filter_and_carry_received_at(store: TelemetryStore, clock: FakeClock) -> None:
    clock.advance(5)
    store.ingest([event(trace_id=trace(1)), event("identity_ok", trace_id=trace(2), app_id="A1")])
    found = store.events(trace_id=trace(2))["events"]
    assert [e["event"] for e in found] == ["identity_ok"]
    assert found[0]["received_at"] == "2026-11-26T03:00:05.000Z"
    assert store.events(app_id="A7")["count"] == 1
    assert store.events(event="identity_ok", since=START + timedelta(minutes=1))["count"] == 0


def test_events_limit_reports_truncation(store: TelemetryStore) -> None:
    store.ingest([event(trace_id=trace(n)) for n in range(1, 6)])
    answer = store.events(limit=3)
    assert (answer["count"], answer["truncated"]) == (3, True)


def switched_store(tmp_path: Path, clock: FakeClock, *off: str) -> TelemetryStore:
    """A store with the named contract rules turned off (the fault switches' hook)."""
    return TelemetryStore(tmp_path / "faulted.db", clock, rule_enabled=lambda r: r not in off)


def test_with_a8_dedupe_off_every_copy_is_stored(tmp_path: Path, clock: FakeClock) -> None:
    faulted = switched_store(tmp_path, clock, "a8_dedupe")
    try:
        result = faulted.ingest([event(idempotency_key="k1"), event(idempotency_key="k1")])
        assert (result.accepted, result.duplicates) == (2, 0)
        assert stored(faulted) == 2
    finally:
        faulted.close()


def test_with_event_schema_off_events_are_stored_without_p95(
    tmp_path: Path, clock: FakeClock
) -> None:
    faulted = switched_store(tmp_path, clock, "event_schema")
    try:
        assert faulted.ingest([event(p95_ms=12.5)]).accepted == 1
        [kept] = faulted.events()["events"]
        assert "p95_ms" not in kept
        assert kept["trace_id"] == trace(1)  # only that field is lost
    finally:
        faulted.close()
