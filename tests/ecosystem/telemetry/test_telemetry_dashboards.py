"""A8's dashboards: revenue lineage (joins, synthetic apart, broken), funnels, SLO matrix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from reftarget.telemetry import TelemetryStore, UnknownDashboard, make_tags
from reftarget.telemetry.dashboards import NAMES

from tests.ecosystem.telemetry.telemetry_testkit import FakeClock, event, finance, trace

SYNTHETIC = make_tags(env="embedded", test_run=True, source="qa")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[TelemetryStore]:
    opened = TelemetryStore(tmp_path / "a8.db", clock)
    yield opened
    opened.close()


def payment(
    n: int, *, gross: int = 50, synthetic: bool = False, stripe: str | None = "auto", **more: Any
) -> list[dict[str, Any]]:
    """A checkout_completed and its revenue_settled, joined by revenue_event_id."""
    tags = SYNTHETIC if synthetic else make_tags(env="embedded")
    stripe_id = f"pi_{n}" if stripe == "auto" else stripe
    rid = f"rev_{n}"
    return [
        finance(trace_id=trace(n), revenue_event_id=rid, gross=gross, stripe=stripe_id, tags=tags),
        finance(
            "revenue_settled",
            trace_id=trace(n),
            revenue_event_id=rid,
            gross=gross,
            stripe=stripe_id,
            tags=tags,
            **more,
        ),
    ]


def tiles(store: TelemetryStore, name: str) -> dict[str, dict[str, Any]]:
    return {t["tile"]: t for t in store.dashboard(name)["tiles"]}


def test_lineage_joins_settlement_to_checkout_and_stripe_object(store: TelemetryStore) -> None:
    store.ingest(payment(1))
    (item,) = tiles(store, "revenue-lineage")["lineage"]["items"]
    assert item["revenue_event_id"] == "rev_1"
    assert item["source"]["event"] == "checkout_completed"
    assert item["stripe_object_id"] == "pi_1" == item["source"]["stripe_object_id"]
    assert item["problems"] == []


def test_a_provider_billing_event_is_a_lineage_source(store: TelemetryStore) -> None:
    store.ingest(
        [
            finance("provider_billed", app_id="A6", revenue_event_id="rev_b2b", stripe="pi_9"),
            finance("revenue_settled", revenue_event_id="rev_b2b", stripe="pi_9"),
        ]
    )
    (item,) = tiles(store, "revenue-lineage")["lineage"]["items"]
    assert item["source"]["event"] == "provider_billed"


def test_synthetic_revenue_is_apart_and_out_of_real_totals(
    store: TelemetryStore, clock: FakeClock
) -> None:
    store.ingest(payment(1, gross=700))
    before = tiles(store, "revenue-lineage")["real_revenue"]
    clock.advance(30)
    store.ingest(payment(2, gross=50, synthetic=True))
    after = tiles(store, "revenue-lineage")
    assert after["real_revenue"] == before  # totals and updated_at untouched
    assert before["totals"]["usd"]["gross_cents"] == 700
    assert after["synthetic_revenue"]["totals"]["usd"] == {
        "gross_cents": 50,
        "fee_cents": 0,
        "net_cents": 50,
        "settlements": 1,
    }
    assert after["synthetic_revenue"]["updated_at"] == "2026-11-26T03:00:30.000Z"


def test_half_tagged_payment_stays_out_of_real_revenue(store: TelemetryStore) -> None:
    checkout, settled = payment(3)
    store.ingest([checkout | {"tags": SYNTHETIC}, settled])
    board = tiles(store, "revenue-lineage")
    assert board["real_revenue"]["totals"] == {}
    assert "synthetic tag differs" in board["broken_lineage"]["items"][0]["problems"][0]


def test_unjoined_settlements_are_listed_as_broken_lineage(store: TelemetryStore) -> None:
    store.ingest(payment(1))  # sound
    store.ingest([finance("revenue_settled", trace_id=trace(2), revenue_event_id="rev_orphan")])
    store.ingest(payment(3, stripe=None))
    broken = tiles(store, "revenue-lineage")["broken_lineage"]
    reasons = {i["revenue_event_id"]: i["problems"] for i in broken["items"]}
    assert broken["count"] == 2
    assert reasons["rev_orphan"] == [
        "no checkout_completed or provider_billed carries this revenue_event_id"
    ]
    assert reasons["rev_3"][0].startswith("no finance_metrics.stripe_object_id")


def test_a_settlement_repeated_under_a_new_trace_counts_once(store: TelemetryStore) -> None:
    store.ingest(payment(1, gross=50))
    store.ingest([finance("revenue_settled", trace_id=trace(77), revenue_event_id="rev_1")])
    board = tiles(store, "revenue-lineage")
    assert board["real_revenue"]["totals"]["usd"]["gross_cents"] == 50
    assert board["broken_lineage"]["items"][0]["problems"][0].startswith("revenue_settled #2")


def test_checkouts_awaiting_settlement_are_listed(store: TelemetryStore) -> None:
    store.ingest([payment(1)[0]])
    unsettled = tiles(store, "revenue-lineage")["unsettled"]
    assert unsettled["count"] == 1
    assert unsettled["items"][0]["revenue_event_id"] == "rev_1"


def test_funnel_status_counts_each_step_weighted_and_apart(store: TelemetryStore) -> None:
    impressions = [event("cta_impression", trace_id=trace(n), sample_rate=0.1) for n in range(1, 4)]
    store.ingest([*impressions, event("identity_ok", app_id="A1", tags=SYNTHETIC)])
    b2c = {s["event"]: s for s in tiles(store, "funnel-status")["b2c"]["steps"]}
    assert (b2c["cta_impression"]["real"], b2c["cta_impression"]["samples"]) == (30, 3)
    assert (b2c["identity_ok"]["real"], b2c["identity_ok"]["synthetic"]) == (0, 1)
    assert b2c["checkout_completed"]["samples"] == 0


def test_activation_tiles(store: TelemetryStore) -> None:
    store.ingest(
        [
            event("activation_first_use", app_id="A5", tenant_id="t1", trace_id=trace(1)),
            event("activation_first_use", app_id="A5", tenant_id="t1", trace_id=trace(2)),
            finance("credit_decrement", app_id="A5", tenant_id="t1")
            | {"finance_metrics": finance()["finance_metrics"] | {"billed_cents": 8}},
        ]
    )
    board = tiles(store, "activation")
    assert (
        board["activation_first_use"]["real"],
        board["activation_first_use"]["real_tenants"],
    ) == (
        2,
        1,
    )
    assert board["credit_decrement"]["real_billed_cents"] == 8


def test_slo_matrix_has_a_tile_per_app_and_route(store: TelemetryStore, clock: FakeClock) -> None:
    def request(n: int, app: str, route: str) -> dict[str, Any]:
        return event("http_request", app_id=app, route=route, trace_id=trace(n))

    store.ingest(
        [request(1, "A1", "/health"), request(2, "A1", "/ready"), request(3, "A2", "/health")]
    )
    matrix = store.dashboard("slo-matrix")["tiles"]
    assert [(t["app_id"], t["route"]) for t in matrix] == [
        ("A1", "/health"),
        ("A1", "/ready"),
        ("A2", "/health"),
    ]
    clock.advance(2 * 3600)  # the matrix shows the last hour unless told otherwise
    assert store.dashboard("slo-matrix")["tiles"] == []


@pytest.mark.parametrize("name", NAMES)
def test_every_dashboard_has_generated_at_and_tiles_with_updated_at(
    store: TelemetryStore, name: str
) -> None:
    store.ingest([*payment(1), event("http_request"), event("activation_first_use", app_id="A5")])
    board = store.dashboard(name)
    assert board["generated_at"].endswith("Z")
    assert board["tiles"]
    assert all("updated_at" in tile for tile in board["tiles"])


def test_unknown_dashboard(store: TelemetryStore) -> None:
    with pytest.raises(UnknownDashboard):
        store.dashboard("revenue")


def test_activation_dashboard_for_one_trace_lists_its_growth_events(
    store: TelemetryStore,
) -> None:
    store.ingest(
        [
            event("page_published", app_id="A7", trace_id=trace(1)),
            event("cta_emitted", app_id="A7", trace_id=trace(1)),
            event("cta_emitted", app_id="A7", trace_id=trace(2)),
        ]
    )
    board = {t["tile"]: t for t in store.dashboard("activation", trace_id=trace(1))["tiles"]}
    [listed] = board["cta_emitted"]["events"]
    assert (listed["trace_id"], board["cta_emitted"]["samples"]) == (trace(1), 1)
    assert listed["received_at"] == board["cta_emitted"]["updated_at"]
    assert board["page_published"]["samples"] == 1
    assert board["page_build_requested"]["events"] == []
    everything = {t["tile"]: t for t in store.dashboard("activation")["tiles"]}
    assert everything["cta_emitted"]["samples"] == 2
    assert "events" not in everything["cta_emitted"]
