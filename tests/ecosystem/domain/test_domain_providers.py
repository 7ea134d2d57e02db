"""A6 provider portal: registration, listing lifecycle, billing with the 3 % fee."""

from __future__ import annotations

import itertools
import sqlite3
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
from reftarget.domain.errors import NotFound
from reftarget.domain.providers import (
    ListingStatus,
    ProviderAlreadyRegistered,
    ProviderPortal,
    fee_split,
)

if TYPE_CHECKING:
    from conftest import FakeClock

T = "tenant_qa_b2b"


@pytest.fixture
def portal(clock: FakeClock, conn: sqlite3.Connection) -> ProviderPortal:
    counter = itertools.count(1)
    return ProviderPortal(conn, clock, id_factory=lambda prefix: f"{prefix}_{next(counter)}")


@pytest.mark.parametrize(
    ("gross", "fee"),
    [
        (1, 0),  # 0.03
        (16, 0),  # 0.48
        (17, 1),  # 0.51
        (50, 2),  # 1.5, the half rounds up
        (84, 3),  # 2.52
        (150, 5),  # 4.5 (4.4999… in binary floating point)
        (250, 8),  # 7.5
        (1000, 30),
        (1_234_567, 37_037),  # 37037.01
    ],
)
def test_fee_is_three_percent_rounded_half_up_and_net_is_the_rest(gross: int, fee: int) -> None:
    assert fee_split(gross) == (fee, gross - fee)


def test_billing_records_fee_net_finance_metrics_and_a_revenue_event_id(
    portal: ProviderPortal,
) -> None:
    provider = portal.register(T, "test_provider_e2e_01", "QA Provider").provider
    record = portal.bill(T, provider.provider_id, 150)
    assert (record.gross_cents, record.fee_cents, record.net_cents) == (150, 5, 145)
    assert record.revenue_event_id.startswith("rev_")
    assert record.finance_metrics["fee_rate"] == "0.03"
    assert record.finance_metrics["net_cents"] == 145
    second = portal.bill(T, provider.provider_id, 150)
    assert second.revenue_event_id != record.revenue_event_id
    assert portal.billings(T) == [record, second]


def test_billing_resold_work_carries_cost_and_the_4x_markup(portal: ProviderPortal) -> None:
    provider = portal.register(T, "test_provider_e2e_01", "QA Provider").provider
    record = portal.bill(T, provider.provider_id, 48, work_cost_cents=12)
    assert (record.cost_cents, record.markup, record.billed_cents) == (12, 4, 48)
    assert (record.fee_cents, record.net_cents) == (1, 47)  # 1.44 rounds to 1


def test_one_registration_per_tenant(portal: ProviderPortal) -> None:
    registered = portal.register(T, "test_provider_e2e_01", "QA Provider")
    assert [e.event_name for e in registered.emitted] == ["provider_registered"]
    with pytest.raises(ProviderAlreadyRegistered) as again:
        portal.register(T, "someone_else", "Another")
    assert again.value.existing == registered.provider
    assert portal.register("tenant_other", "test_provider_e2e_01", "QA Provider").provider


def test_listing_goes_from_draft_to_published_once(portal: ProviderPortal) -> None:
    provider = portal.register(T, "test_provider_e2e_01", "QA Provider").provider
    draft = portal.create_listing(T, provider.provider_id, "Algebra tutoring", price_cents=2500)
    assert draft.status is ListingStatus.DRAFT
    published = portal.publish_listing(T, draft.listing_id)
    assert published.changed
    assert published.listing.status is ListingStatus.PUBLISHED
    assert [e.event_name for e in published.emitted] == ["provider_listing_published"]
    assert published.emitted[0].fields["listing_id"] == draft.listing_id
    replay = portal.publish_listing(T, draft.listing_id)
    assert (replay.changed, replay.emitted) == (False, ())
    assert portal.listings(T) == [published.listing]


def test_another_tenants_provider_and_listing_are_not_found(portal: ProviderPortal) -> None:
    provider = portal.register(T, "test_provider_e2e_01", "QA Provider").provider
    listing = portal.create_listing(T, provider.provider_id, "Algebra tutoring")
    with pytest.raises(NotFound):
        portal.publish_listing("tenant_other", listing.listing_id)
    with pytest.raises(NotFound):
        portal.create_listing("tenant_other", provider.provider_id, "Stolen")
    with pytest.raises(NotFound):
        portal.bill("tenant_other", provider.provider_id, 100)


def test_a_different_fee_rate_is_honoured_for_the_wrong_fee_fault(portal: ProviderPortal) -> None:
    provider = portal.register(T, "test_provider_e2e_01", "QA Provider").provider
    record = portal.bill(T, provider.provider_id, 150, fee_rate=Decimal("0.05"))
    assert (record.fee_cents, record.finance_metrics["fee_rate"]) == (8, "0.05")


def test_billings_survive_a_new_portal_on_the_same_database(
    clock: FakeClock, conn: sqlite3.Connection
) -> None:
    first = ProviderPortal(conn, clock)
    provider = first.register(T, "test_provider_e2e_01", "QA Provider").provider
    record = first.bill(T, provider.provider_id, 999)
    assert ProviderPortal(conn, clock).billings(T) == [record]
