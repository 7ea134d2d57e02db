"""A3's attribution: which CTA arm (and page) a conversion came from, and totals per arm.

Why in the domain: the B2C funnel passes attribution before checkout, and the bandit's
learning is only as honest as this ledger. One conversion is attributed once: a replay with
the same facts is a no-op (retries are normal), different facts are a conflict (a bug or
an attack), so totals never double count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reftarget.clock import Clock
from reftarget.domain.errors import Conflict
from reftarget.domain.instants import parse_instant, rfc3339, utc_now
from reftarget.domain.storage import Database, DbLike, as_database

__all__ = ["Attribution", "AttributionConflict", "AttributionLedger"]


@dataclass(frozen=True)
class Attribution:
    """A conversion credited to a CTA arm; ``created`` is False for an idempotent replay."""

    conversion_id: str
    cta_arm: str
    page_id: str
    tenant_id: str | None
    attributed_at: datetime
    created: bool


class AttributionConflict(Conflict):
    """The conversion is already attributed to a different arm or page."""

    def __init__(self, existing: Attribution) -> None:
        super().__init__(
            f"conversion {existing.conversion_id!r} is already attributed to arm"
            f" {existing.cta_arm!r} on page {existing.page_id!r}"
        )
        self.existing = existing


class AttributionLedger:
    """Attributions in ``a3_attributions``."""

    def __init__(self, db: DbLike, clock: Clock) -> None:
        self._db: Database = as_database(db)
        self._clock = clock
        self._db.ensure_schema(
            [
                "CREATE TABLE IF NOT EXISTS a3_attributions ("
                " conversion_id TEXT PRIMARY KEY, tenant_id TEXT, cta_arm TEXT NOT NULL,"
                " page_id TEXT NOT NULL, attributed_at TEXT NOT NULL)",
            ]
        )

    def attribute(
        self, conversion_id: str, cta_arm: str, page_id: str, *, tenant_id: str | None = None
    ) -> Attribution:
        """Credit ``conversion_id`` to ``cta_arm``; a same-facts replay returns the original."""
        for label, value in (
            ("conversion_id", conversion_id),
            ("cta_arm", cta_arm),
            ("page_id", page_id),
        ):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{label} must be a non-empty string")
        at = utc_now(self._clock)
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT tenant_id, cta_arm, page_id, attributed_at FROM a3_attributions"
                " WHERE conversion_id = ?",
                (conversion_id,),
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO a3_attributions VALUES (?, ?, ?, ?, ?)",
                    (conversion_id, tenant_id, cta_arm, page_id, rfc3339(at)),
                )
                return Attribution(conversion_id, cta_arm, page_id, tenant_id, at, True)
        existing = Attribution(conversion_id, row[1], row[2], row[0], parse_instant(row[3]), False)
        if (existing.cta_arm, existing.page_id, existing.tenant_id) != (
            cta_arm,
            page_id,
            tenant_id,
        ):
            raise AttributionConflict(existing)
        return existing

    def totals(self, tenant_id: str | None = None) -> dict[str, int]:
        """Conversions per arm (all tenants when ``tenant_id`` is None)."""
        if tenant_id is None:
            rows = self._db.query(
                "SELECT cta_arm, COUNT(*) FROM a3_attributions GROUP BY cta_arm ORDER BY cta_arm"
            )
        else:
            rows = self._db.query(
                "SELECT cta_arm, COUNT(*) FROM a3_attributions WHERE tenant_id = ?"
                " GROUP BY cta_arm ORDER BY cta_arm",
                (tenant_id,),
            )
        return {str(arm): int(count) for arm, count in rows}
