"""The harness's own changes to a target, appended to the HITL log (contract §9).

Every fault switch, clock move and rollback the harness makes is logged as an ``action``
before it is made: who (the harness), what, which app, when, in which env. In ``staging``
changes run only under an ``inject_503`` approval: the first change of a check also logs a
``use`` of that approval, and no change (only a rollback) is made once it has expired.

:class:`ActionLog` is the recorder the pytest wiring hands to
:class:`secondconf.target.control.TargetControl`; it knows nothing of HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from secondconf.core.clock import Clock, utc_iso
from secondconf.hitl.log import Approval, record_action, record_use

FAULT_GATE: Final = "inject_503"
"""The gate a fault or clock change in ``staging`` needs (the seed's name for fault injection)."""


@dataclass
class ActionLog:
    """Appends each change to ``path`` as an action of ``env``; under ``approval`` if given."""

    path: Path
    env: str
    clock: Clock
    test_id: str
    approval: Approval | None = None
    _use_logged: bool = field(default=False, init=False)

    def __call__(self, app_id: str, what: str, *, rollback: bool) -> None:
        """Log the change, or raise (``ApprovalLogError``, ``ValueError``) to refuse it."""
        if self.approval is not None and not rollback:
            self._require_approval(self.approval)
        record_action(
            self.path,
            what=f"{what} (rollback)" if rollback else what,
            app=app_id,
            env=self.env,
            clock=self.clock,
        )

    def _require_approval(self, approval: Approval) -> None:
        if not self._use_logged:
            # Refuses an expired approval, or one the log on disk no longer holds.
            record_use(self.path, approval, test_id=self.test_id, clock=self.clock)
            self._use_logged = True
        elif not approval.is_active(self.clock.now()):
            raise ValueError(
                f"approval {approval.short_id} ({approval.gate}/{approval.env}) expired at "
                f"{utc_iso(approval.expires_at)}: no further change, only rollbacks"
            )
