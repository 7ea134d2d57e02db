"""Pure business logic of the reference target (A3–A7), with no HTTP.

Why a separate package: the apps are thin routes over these modules, and the contract's
business rules (reward, Thompson sampling, backoff and breaker, cycles and auto-heal,
credits, provider fee, work cost) are tested here directly, on an injected clock and
``:memory:`` SQLite. Operations return plain records (``Emitted`` for events to send);
the app builds the telemetry events. The only other reftarget modules used are
``reftarget.money`` and ``reftarget.clock`` (the injected clock).

Modules: ``bandit`` (A7), ``resilience`` (§8 error correction), ``cycles`` and
``attribution`` (A3), ``work`` (A4), ``credits`` (A5), ``providers`` (A6); ``instants``,
``storage``, ``records`` and ``errors`` are the shared seams.
"""

from __future__ import annotations

from reftarget.domain.attribution import Attribution, AttributionConflict, AttributionLedger
from reftarget.domain.bandit import (
    BanditUpdate,
    Posterior,
    SqliteBanditStore,
    ThompsonBandit,
    reward,
)
from reftarget.domain.credits import CreditLedger, InsufficientCredits
from reftarget.domain.cycles import CycleContext, CycleResult, CycleRunner, RunStatus
from reftarget.domain.errors import Conflict, DomainError, NotFound
from reftarget.domain.instants import rfc3339
from reftarget.domain.providers import ProviderAlreadyRegistered, ProviderPortal, fee_split
from reftarget.domain.records import Emitted
from reftarget.domain.resilience import (
    Backoff,
    BreakerState,
    CircuitBreaker,
    CircuitOpen,
    retry_call,
    retry_call_async,
)
from reftarget.domain.storage import Database, as_database
from reftarget.domain.work import WorkCatalog, WorkResult

__all__ = [
    "Attribution",
    "AttributionConflict",
    "AttributionLedger",
    "Backoff",
    "BanditUpdate",
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpen",
    "Conflict",
    "CreditLedger",
    "CycleContext",
    "CycleResult",
    "CycleRunner",
    "Database",
    "DomainError",
    "Emitted",
    "InsufficientCredits",
    "NotFound",
    "Posterior",
    "ProviderAlreadyRegistered",
    "ProviderPortal",
    "RunStatus",
    "SqliteBanditStore",
    "ThompsonBandit",
    "WorkCatalog",
    "WorkResult",
    "as_database",
    "fee_split",
    "retry_call",
    "retry_call_async",
    "reward",
    "rfc3339",
]
