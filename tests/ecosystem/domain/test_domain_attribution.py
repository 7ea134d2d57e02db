"""A3 attribution: which CTA each conversion came from, counted once."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pytest
from reftarget.domain.attribution import AttributionConflict
from reftarget.domain.cycles import CycleRunner

if TYPE_CHECKING:
    from conftest import FakeClock


def runner(clock: FakeClock, conn: sqlite3.Connection) -> CycleRunner:
    return CycleRunner(clock, conn, lambda ctx: None, sleep=clock.sleep)


def test_totals_count_conversions_per_arm(clock: FakeClock, conn: sqlite3.Connection) -> None:
    a3 = runner(clock, conn)
    a3.attribute("conv-1", "cta_b", "page-1", tenant_id="tenant_qa_b2c")
    a3.attribute("conv-2", "cta_b", "page-2", tenant_id="tenant_qa_b2c")
    a3.attribute("conv-3", "cta_a", "page-1", tenant_id="other")
    assert a3.attribution_totals() == {"cta_a": 1, "cta_b": 2}
    assert a3.attribution_totals("tenant_qa_b2c") == {"cta_b": 2}


def test_a_replayed_attribution_is_not_counted_twice(
    clock: FakeClock, conn: sqlite3.Connection
) -> None:
    a3 = runner(clock, conn)
    first = a3.attribute("conv-1", "cta_b", "page-1")
    clock.advance(5)
    again = a3.attribute("conv-1", "cta_b", "page-1")
    assert first.created
    assert not again.created
    assert again.attributed_at == first.attributed_at
    assert a3.attribution_totals() == {"cta_b": 1}


def test_reattributing_a_conversion_to_another_arm_is_a_conflict(
    clock: FakeClock, conn: sqlite3.Connection
) -> None:
    a3 = runner(clock, conn)
    a3.attribute("conv-1", "cta_b", "page-1")
    with pytest.raises(AttributionConflict) as conflict:
        a3.attribute("conv-1", "cta_a", "page-1")
    assert conflict.value.existing.cta_arm == "cta_b"
    assert a3.attribution_totals() == {"cta_b": 1}
