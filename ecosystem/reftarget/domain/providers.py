"""A6's provider portal: registration, listings (draft → published), and billing.

Why these rules:
* one provider registration per tenant — a B2B tenant *is* the provider organisation, so a
  second registration is a conflict that carries the existing provider (the app may answer
  409 with it, or treat a replay by the same subject as success);
* a listing is created as a draft and published once; ``provider_listing_published`` fires on
  that transition only, so a retried publish never double counts in the funnel;
* billing takes the platform fee ``round_half_up(gross × 3 %)`` and pays out the rest, in
  integer cents via ``reftarget.money``, and gives the charge a ``revenue_event_id`` so A8's
  revenue lineage can join it. The fee rate is a parameter so the "wrong fee" fault can
  exist; the default is the contract's.
"""

from __future__ import annotations

import enum
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from reftarget import money
from reftarget.clock import Clock
from reftarget.domain._validate import identifier, non_negative_int, positive_int
from reftarget.domain.errors import Conflict, NotFound
from reftarget.domain.instants import parse_instant, rfc3339, utc_now
from reftarget.domain.records import Emitted
from reftarget.domain.storage import Database, DbLike, as_database

__all__ = [
    "BillingRecord",
    "Listing",
    "ListingChange",
    "ListingStatus",
    "Provider",
    "ProviderAlreadyRegistered",
    "ProviderPortal",
    "Registration",
    "fee_split",
]


@dataclass(frozen=True)
class Provider:
    provider_id: str
    tenant_id: str
    subject: str
    display_name: str
    registered_at: datetime


@dataclass(frozen=True)
class Registration:
    """A new provider and its ``provider_registered``."""

    provider: Provider
    emitted: tuple[Emitted, ...]


class ProviderAlreadyRegistered(Conflict):
    """The tenant already has a provider; ``existing`` is it."""

    def __init__(self, existing: Provider) -> None:
        super().__init__(
            f"tenant {existing.tenant_id!r} already has provider {existing.provider_id!r}"
        )
        self.existing = existing


class ListingStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


@dataclass(frozen=True)
class Listing:
    listing_id: str
    provider_id: str
    tenant_id: str
    title: str
    price_cents: int | None
    status: ListingStatus
    created_at: datetime
    published_at: datetime | None


@dataclass(frozen=True)
class ListingChange:
    """The listing after a publish; ``changed`` is False (and nothing emitted) on a replay."""

    listing: Listing
    changed: bool
    emitted: tuple[Emitted, ...]


@dataclass(frozen=True)
class BillingRecord:
    """One provider charge: gross, platform fee, net payout, and the lineage id."""

    billing_id: str
    revenue_event_id: str
    tenant_id: str
    provider_id: str
    gross_cents: int
    fee_rate: Decimal
    fee_cents: int
    net_cents: int
    cost_cents: int | None
    markup: int | None
    billed_cents: int | None
    finance_metrics: dict[str, Any]
    billed_at: datetime


def fee_split(gross_cents: int, fee_rate: Decimal = money.PROVIDER_FEE_RATE) -> tuple[int, int]:
    """``(fee_cents, net_cents)``: fee rounded half up to the cent, net = gross − fee."""
    fee = money.provider_fee_cents(gross_cents, fee_rate)
    return fee, gross_cents - fee


_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS a6_providers ("
    " provider_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL UNIQUE, subject TEXT NOT NULL,"
    " display_name TEXT NOT NULL, registered_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS a6_listings ("
    " listing_id TEXT PRIMARY KEY, provider_id TEXT NOT NULL, tenant_id TEXT NOT NULL,"
    " title TEXT NOT NULL, price_cents INTEGER, status TEXT NOT NULL,"
    " created_at TEXT NOT NULL, published_at TEXT)",
    "CREATE TABLE IF NOT EXISTS a6_billings ("
    " billing_id TEXT PRIMARY KEY, revenue_event_id TEXT NOT NULL UNIQUE,"
    " tenant_id TEXT NOT NULL, provider_id TEXT NOT NULL, gross_cents INTEGER NOT NULL,"
    " fee_rate TEXT NOT NULL, fee_cents INTEGER NOT NULL, net_cents INTEGER NOT NULL,"
    " cost_cents INTEGER, markup INTEGER, billed_cents INTEGER, billed_at TEXT NOT NULL)",
]

_PROVIDER_COLS = "provider_id, tenant_id, subject, display_name, registered_at"
_LISTING_COLS = (
    "listing_id, provider_id, tenant_id, title, price_cents, status, created_at, published_at"
)
_BILLING_COLS = (
    "billing_id, revenue_event_id, tenant_id, provider_id, gross_cents, fee_rate, fee_cents,"
    " net_cents, cost_cents, markup, billed_cents, billed_at"
)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


class ProviderPortal:
    """Providers, listings and billings in ``a6_*`` tables.

    Every lookup is scoped by tenant: another tenant's provider or listing is NotFound.
    ``id_factory(prefix)`` makes ids (``prv``, ``lst``, ``bil``, ``rev``); inject it for
    deterministic tests.
    """

    def __init__(
        self,
        db: DbLike,
        clock: Clock,
        *,
        fee_rate: Decimal = money.PROVIDER_FEE_RATE,
        markup: int = money.WORK_MARKUP,
        id_factory: Callable[[str], str] = _new_id,
    ) -> None:
        self._db: Database = as_database(db)
        self._clock = clock
        self.fee_rate = fee_rate
        self.markup = markup
        self._new_id = id_factory
        self._db.ensure_schema(_SCHEMA)

    # -- providers -----------------------------------------------------------------------

    def register(self, tenant_id: str, subject: str, display_name: str) -> Registration:
        """Register the tenant's provider; raises ProviderAlreadyRegistered on a second one."""
        identifier("tenant_id", tenant_id)
        identifier("subject", subject)
        identifier("display_name", display_name)
        at = utc_now(self._clock)
        provider = Provider(self._new_id("prv"), tenant_id, subject, display_name, at)
        with self._db.transaction() as conn:
            existing = _provider_row(conn, "tenant_id = ?", (tenant_id,))
            if existing is not None:
                raise ProviderAlreadyRegistered(existing)
            conn.execute(
                f"INSERT INTO a6_providers ({_PROVIDER_COLS}) VALUES (?, ?, ?, ?, ?)",
                (provider.provider_id, tenant_id, subject, display_name, rfc3339(at)),
            )
        event = Emitted(
            "provider_registered",
            {
                "tenant_id": tenant_id,
                "provider_id": provider.provider_id,
                "subject": subject,
                "display_name": display_name,
            },
            at,
        )
        return Registration(provider, (event,))

    def provider(self, tenant_id: str, provider_id: str) -> Provider:
        """The tenant's provider with this id, or NotFound."""
        with self._db.reading() as conn:
            found = _provider_row(
                conn, "tenant_id = ? AND provider_id = ?", (tenant_id, provider_id)
            )
        if found is None:
            raise NotFound(f"no provider {provider_id!r} in tenant {tenant_id!r}")
        return found

    def provider_for_tenant(self, tenant_id: str) -> Provider | None:
        """The tenant's provider, if registered."""
        with self._db.reading() as conn:
            return _provider_row(conn, "tenant_id = ?", (tenant_id,))

    # -- listings ------------------------------------------------------------------------

    def create_listing(
        self, tenant_id: str, provider_id: str, title: str, *, price_cents: int | None = None
    ) -> Listing:
        """A new draft listing of the tenant's provider."""
        identifier("title", title)
        if price_cents is not None:
            non_negative_int("price_cents", price_cents)
        self.provider(tenant_id, provider_id)
        at = utc_now(self._clock)
        listing = Listing(
            self._new_id("lst"),
            provider_id,
            tenant_id,
            title,
            price_cents,
            ListingStatus.DRAFT,
            at,
            None,
        )
        with self._db.transaction() as conn:
            conn.execute(
                f"INSERT INTO a6_listings ({_LISTING_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                (
                    listing.listing_id,
                    provider_id,
                    tenant_id,
                    title,
                    price_cents,
                    listing.status.value,
                    rfc3339(at),
                ),
            )
        return listing

    def publish_listing(self, tenant_id: str, listing_id: str) -> ListingChange:
        """draft → published, emitting ``provider_listing_published`` exactly once."""
        at = utc_now(self._clock)
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE a6_listings SET status = ?, published_at = ?"
                " WHERE tenant_id = ? AND listing_id = ? AND status = ?",
                (
                    ListingStatus.PUBLISHED.value,
                    rfc3339(at),
                    tenant_id,
                    listing_id,
                    ListingStatus.DRAFT.value,
                ),
            )
            changed = cursor.rowcount == 1
            listing = _listing_row(conn, tenant_id, listing_id)
        if listing is None:
            raise NotFound(f"no listing {listing_id!r} in tenant {tenant_id!r}")
        emitted: tuple[Emitted, ...] = ()
        if changed:
            emitted = (
                Emitted(
                    "provider_listing_published",
                    {
                        "tenant_id": tenant_id,
                        "provider_id": listing.provider_id,
                        "listing_id": listing_id,
                        "title": listing.title,
                    },
                    at,
                ),
            )
        return ListingChange(listing, changed, emitted)

    def listing(self, tenant_id: str, listing_id: str) -> Listing:
        with self._db.reading() as conn:
            found = _listing_row(conn, tenant_id, listing_id)
        if found is None:
            raise NotFound(f"no listing {listing_id!r} in tenant {tenant_id!r}")
        return found

    def listings(self, tenant_id: str) -> list[Listing]:
        rows = self._db.query(
            f"SELECT {_LISTING_COLS} FROM a6_listings WHERE tenant_id = ? ORDER BY created_at,"
            " listing_id",
            (tenant_id,),
        )
        return [_listing(row) for row in rows]

    # -- billing -------------------------------------------------------------------------

    def bill(
        self,
        tenant_id: str,
        provider_id: str,
        gross_cents: int,
        *,
        work_cost_cents: int | None = None,
        fee_rate: Decimal | None = None,
    ) -> BillingRecord:
        """Charge the provider ``gross_cents``: fee half up at the fee rate, net = gross − fee.

        ``work_cost_cents`` (A4 work resold to the provider) adds cost, markup and the billed
        amount (cost × markup) to the finance metrics; gross is what is charged either way.
        """
        positive_int("gross_cents", gross_cents)
        rate = self.fee_rate if fee_rate is None else fee_rate
        fee, net = fee_split(gross_cents, rate)
        cost: int | None = None
        markup: int | None = None
        billed: int | None = None
        if work_cost_cents is not None:
            cost = non_negative_int("work_cost_cents", work_cost_cents)
            markup = self.markup
            billed = money.marked_up_cents(cost, markup)
        self.provider(tenant_id, provider_id)
        at = utc_now(self._clock)
        record = BillingRecord(
            billing_id=self._new_id("bil"),
            revenue_event_id=self._new_id("rev"),
            tenant_id=tenant_id,
            provider_id=provider_id,
            gross_cents=gross_cents,
            fee_rate=rate,
            fee_cents=fee,
            net_cents=net,
            cost_cents=cost,
            markup=markup,
            billed_cents=billed,
            finance_metrics=money.finance_metrics(
                gross_cents=gross_cents,
                fee_rate=rate,
                fee_cents=fee,
                net_cents=net,
                cost_cents=cost,
                markup=markup,
                billed_cents=billed,
            ),
            billed_at=at,
        )
        with self._db.transaction() as conn:
            conn.execute(
                f"INSERT INTO a6_billings ({_BILLING_COLS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.billing_id,
                    record.revenue_event_id,
                    tenant_id,
                    provider_id,
                    gross_cents,
                    format(rate, "f"),
                    fee,
                    net,
                    cost,
                    markup,
                    billed,
                    rfc3339(at),
                ),
            )
        return record

    def billings(self, tenant_id: str) -> list[BillingRecord]:
        rows = self._db.query(
            f"SELECT {_BILLING_COLS} FROM a6_billings WHERE tenant_id = ?"
            " ORDER BY billed_at, billing_id",
            (tenant_id,),
        )
        return [_billing(row) for row in rows]


def _provider_row(conn: sqlite3.Connection, where: str, params: tuple[str, ...]) -> Provider | None:
    row = conn.execute(
        f"SELECT {_PROVIDER_COLS} FROM a6_providers WHERE {where}", params
    ).fetchone()
    if row is None:
        return None
    return Provider(row[0], row[1], row[2], row[3], parse_instant(row[4]))


def _listing_row(conn: sqlite3.Connection, tenant_id: str, listing_id: str) -> Listing | None:
    row = conn.execute(
        f"SELECT {_LISTING_COLS} FROM a6_listings WHERE tenant_id = ? AND listing_id = ?",
        (tenant_id, listing_id),
    ).fetchone()
    return None if row is None else _listing(row)


def _listing(row: tuple[Any, ...]) -> Listing:
    return Listing(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        ListingStatus(row[5]),
        parse_instant(row[6]),
        parse_instant(row[7]) if row[7] is not None else None,
    )


def _billing(row: tuple[Any, ...]) -> BillingRecord:
    rate = Decimal(row[5])
    return BillingRecord(
        billing_id=row[0],
        revenue_event_id=row[1],
        tenant_id=row[2],
        provider_id=row[3],
        gross_cents=row[4],
        fee_rate=rate,
        fee_cents=row[6],
        net_cents=row[7],
        cost_cents=row[8],
        markup=row[9],
        billed_cents=row[10],
        finance_metrics=money.finance_metrics(
            gross_cents=row[4],
            fee_rate=rate,
            fee_cents=row[6],
            net_cents=row[7],
            cost_cents=row[8],
            markup=row[9],
            billed_cents=row[10],
        ),
        billed_at=parse_instant(row[11]),
    )
