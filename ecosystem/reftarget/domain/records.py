"""What the domain hands back to the HTTP layer: plain records, never telemetry events.

Why: the domain decides *that* something happened (a first activation, a credit decrement,
a changed bandit config); the app decides *how* it becomes an event (trace id, route,
status, sampling, tags). Keeping the envelope out of here keeps the domain free of HTTP
and telemetry, and lets the tests assert on business facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["Emitted"]


@dataclass(frozen=True)
class Emitted:
    """A business event the caller should emit.

    ``event_name`` is a contract event name (e.g. ``credit_decrement``). ``fields`` is
    JSON-ready; keys named like contract §6 fields (``tenant_id``, ``finance_metrics``,
    ``revenue_event_id``) carry exactly those fields, the other keys are details the app may
    log or drop. ``at`` is when it happened on the domain's clock.
    """

    event_name: str
    fields: dict[str, Any]
    at: datetime
