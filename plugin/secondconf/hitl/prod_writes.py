"""Synthetic writes to production, each run under a ``prod_write`` approval and logged.

Against ``prod_observe`` the harness may send a write only when it is synthetic in every
respect (contract §5) *and* a human approved the ``prod_write`` gate for ``prod_observe``
(the seed's gate; contract §13 asks that what the harness does be in the HITL log). Each
write is appended to the HITL log as an ``action`` before it is sent: method, path, trace
id and synthetic identity, the approval it ran under, and the app it went to. A write that
cannot be logged is not sent. The first write of a test also logs a ``use`` of the
approval, unless the plugin logged it already (a check marked ``hitl(gate="prod_write")``).

No header value other than the trace id and the identity's name reaches the log: never
the bearer token, the idempotency key or a query string.

:class:`ProdWriteLog` knows nothing of HTTP: :mod:`secondconf.target.write_gate` turns a
request into a :class:`SyntheticWrite`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from secondconf.contract.platform import PROD_OBSERVE
from secondconf.core.clock import Clock, utc_iso
from secondconf.hitl.log import Action, Approval, ApprovalLogError, record_action, record_use

PROD_WRITE_GATE: Final = "prod_write"
PROD_WRITE_PREFIX: Final = "prod_write "
"""How a prod write's ``action`` entry starts (the run record lists these apart)."""


class ProdWriteNotApproved(Exception):
    """No valid ``prod_write`` approval, or the write could not be logged: not sent."""


@dataclass(frozen=True)
class SyntheticWrite:
    """One write the harness is about to send to production (no secret in any field)."""

    method: str
    app: str
    path: str  # without the query
    trace_id: str
    identity: str

    def describe(self, approval: Approval) -> str:
        """The action's ``what``: everything a human auditing the log needs, on one line."""
        return (
            f"{PROD_WRITE_PREFIX}{self.method} {self.path} trace {self.trace_id}"
            f" as {self.identity} under approval {approval.short_id}"
        )


@dataclass
class ProdWriteLog:
    """Lets a write go only under ``approval`` (a ``prod_write`` one for ``prod_observe``),
    appending it to the HITL log at ``path`` first, as ``test_id``'s."""

    path: Path
    clock: Clock
    test_id: str
    approval: Approval | None
    use_logged: bool = False
    """True when the plugin already logged this test's use of ``approval``."""
    _checked: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if self.approval is not None and (
            self.approval.gate != PROD_WRITE_GATE or self.approval.env != PROD_OBSERVE
        ):
            raise ValueError(
                f"approval {self.approval.short_id} is for {self.approval.gate}/"
                f"{self.approval.env}, not {PROD_WRITE_GATE}/{PROD_OBSERVE}"
            )

    def __call__(self, write: SyntheticWrite) -> Action:
        """Log ``write`` (the caller sends it only when this returns), or raise
        :class:`ProdWriteNotApproved` saying why it may not go."""
        approval = self.approval
        if approval is None:
            raise ProdWriteNotApproved(
                f"HITL gate {PROD_WRITE_GATE!r} not approved for env {PROD_OBSERVE!r}"
                f" (approval log: {self.path})"
            )
        try:
            if not self.use_logged:
                # Refuses an expired approval, or one the log on disk no longer holds.
                record_use(self.path, approval, test_id=self.test_id, clock=self.clock)
                self.use_logged = True
            elif not approval.is_active(self.clock.now()):
                raise ValueError(
                    f"approval {approval.short_id} ({PROD_WRITE_GATE}/{PROD_OBSERVE}) expired"
                    f" at {utc_iso(approval.expires_at)}"
                )
            return record_action(
                self.path,
                what=write.describe(approval),
                app=write.app,
                env=PROD_OBSERVE,
                clock=self.clock,
            )
        except (ApprovalLogError, ValueError) as error:  # expired, replaced, or unwritable
            raise ProdWriteNotApproved(f"HITL gate {PROD_WRITE_GATE!r}: {error}") from None
