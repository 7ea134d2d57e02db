"""The reference's lineage fault switches, as pure functions (the harness's LIN checks find
them end to end in tests/harness/test_monetization_faults.py)."""

from __future__ import annotations

from pathlib import Path

from reftarget.apps.settlement import settlement_metrics, stripe_metadata
from reftarget.core.clock import TargetClock
from reftarget.core.faults import Faults
from reftarget.telemetry import TelemetryStore, make_tags

from tests.ecosystem.telemetry.telemetry_testkit import FakeClock, finance, trace

SOURCE = {"currency": "usd", "gross_cents": 150, "stripe_object_id": "pi_1", "fee_cents": 5}


def faults_off(*rules: str) -> Faults:
    faults = Faults(TargetClock(), lambda _fraction: None)
    faults.update({"disabled_rules": list(rules)})
    return faults


def test_a_healthy_settlement_carries_its_sources_metrics() -> None:
    assert settlement_metrics(faults_off(), SOURCE) == SOURCE


def test_lineage_faults_drop_the_stripe_object_or_add_a_cent() -> None:
    assert (
        settlement_metrics(faults_off("lineage_stripe_object"), SOURCE)["stripe_object_id"] is None
    )
    assert settlement_metrics(faults_off("lineage_amount"), SOURCE)["gross_cents"] == 151
    assert SOURCE["gross_cents"] == 150  # the source's own metrics are left alone


def test_stripe_metadata_names_the_run_source_and_trace() -> None:
    assert stripe_metadata("ab" * 16, True, "qa") == {
        "test_run": "true",
        "source": "qa",
        "trace_id": "ab" * 16,
    }
    assert stripe_metadata("ab" * 16, False, None)["source"] == ""


def test_without_synthetic_apart_synthetic_revenue_counts_as_real(tmp_path: Path) -> None:
    synthetic = make_tags(env="embedded", test_run=True, source="qa")
    events = [
        finance(trace_id=trace(1), revenue_event_id="rev_1", gross=50, tags=synthetic),
        finance(
            "revenue_settled", trace_id=trace(1), revenue_event_id="rev_1", gross=50, tags=synthetic
        ),
    ]
    totals = {}
    for enabled in (True, False):
        store = TelemetryStore(
            tmp_path / f"a8-{enabled}.db",
            FakeClock(),
            rule_enabled=lambda rule, e=enabled: e or rule != "synthetic_apart",
        )
        store.ingest(events)
        tiles = {t["tile"]: t for t in store.dashboard("revenue-lineage")["tiles"]}
        totals[enabled] = (
            tiles["real_revenue"]["totals"],
            tiles["lineage"]["items"][0]["synthetic"],
        )
        store.close()
    assert totals[True] == ({}, True)
    assert totals[False][0]["usd"]["gross_cents"] == 50
    assert totals[False][1] is False
