"""Who each of A3's attributed conversions belongs to, so a synthetic identity's can go.

The attribution ledger (``domain.attribution``) keys a conversion by its id and tenant
only; the B2C funnel's conversions are a student's sign-up, so A3 also notes the student
(the token's ``sub``) beside each one it attributes. Deleting a synthetic identity
(contract §5) deletes its attributions and these notes.
"""

from __future__ import annotations

from reftarget.domain import Database

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS a3_conversion_owners ("
    " conversion_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, subject TEXT NOT NULL)",
]


class ConversionOwners:
    """The ``a3_conversion_owners`` table, beside ``a3_attributions`` in A3's database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema(_SCHEMA)

    def record(self, conversion_id: str, tenant_id: str, subject: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO a3_conversion_owners VALUES (?, ?, ?)"
                " ON CONFLICT (conversion_id) DO NOTHING",
                (conversion_id, tenant_id, subject),
            )

    def count(self, tenant_id: str, subject: str) -> int:
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM a3_conversion_owners WHERE tenant_id = ? AND subject = ?",
                (tenant_id, subject),
            ).fetchone()
        return int(row[0])

    def delete(self, tenant_id: str, subject: str) -> int:
        """Delete the subject's attributions and their notes; the attributions deleted."""
        with self.db.transaction() as conn:
            deleted = conn.execute(
                "DELETE FROM a3_attributions WHERE conversion_id IN (SELECT conversion_id"
                " FROM a3_conversion_owners WHERE tenant_id = ? AND subject = ?)",
                (tenant_id, subject),
            ).rowcount
            conn.execute(
                "DELETE FROM a3_conversion_owners WHERE tenant_id = ? AND subject = ?",
                (tenant_id, subject),
            )
        return int(deleted)
