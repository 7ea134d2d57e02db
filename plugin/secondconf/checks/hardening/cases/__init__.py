"""The rule cases of the hardening run: what is sent on each covered route, and what must hold.

Each case is an async function of a :class:`~secondconf.checks.hardening.driver.RouteDriver`
(the route, its tenants, the recorder), the route's warm-up state and its app's other routes. It
judges what the answers show at once (status, problem+json, headers, bodies) and leaves
side effects as :class:`~secondconf.checks.hardening.model.EffectClaim` s, which the run
counts in A8 after its marker barrier. The rule ids follow the research catalogue
(``idempotency-security.md`` §a); the rules themselves are contract §4 and §5.

One module per rule family: :mod:`.headers` (HDR, TRC), :mod:`.idempotency` (IDEM),
:mod:`.tenants` (TEN, PRD-40), and :mod:`.expect`, what they share. :data:`CASES` lists
every case with its rule id, in the order the run sends them.
"""

from __future__ import annotations

from typing import Final

from secondconf.checks.hardening.cases.headers import (
    conflicting_traces,
    exempt_methods,
    invalid_traceparent,
    malformed,
    missing_both,
    missing_key,
    missing_trace,
    traceparent_accepted,
)
from secondconf.checks.hardening.cases.idempotency import (
    concurrent,
    different_body,
    new_trace_is_replay,
    other_route,
    reordered_body,
    replay,
)
from secondconf.checks.hardening.cases.tenants import (
    auth_first,
    cross_tenant,
    synthetic_labels,
    two_tenants,
)
from secondconf.checks.hardening.driver import CaseFunction

CASES: Final[tuple[tuple[str, CaseFunction], ...]] = (
    ("HDR-01", missing_key),
    ("HDR-02", missing_trace),
    ("HDR-03", missing_both),
    ("HDR-04", malformed),
    ("HDR-05", exempt_methods),
    ("TRC-26", traceparent_accepted),
    ("TRC-27", invalid_traceparent),
    ("TRC-28", conflicting_traces),
    ("IDEM-07", replay),
    ("IDEM-09", new_trace_is_replay),
    ("IDEM-10", different_body),
    ("IDEM-11", other_route),
    ("IDEM-12", reordered_body),
    ("IDEM-15", concurrent),
    ("TEN-22", two_tenants),
    ("TEN-24", auth_first),
    ("TEN-25", cross_tenant),
    ("PRD-40", synthetic_labels),
)
