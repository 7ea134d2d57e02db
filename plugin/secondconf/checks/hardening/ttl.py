"""IDEM-13: an idempotency record lives 15 minutes, checked on both sides of the boundary.

Through the target's clock control (``clock_offset_s``, contract §9) the check does not
wait: a request with a fresh key; the same request with the platform's clock (every app
but A8, so a route that calls another app stays consistent) moved to just inside the TTL
(a replay); then, just past it, the same key with another body, which
within the TTL would be a 422 and now must execute (the key is free). Another body, not
the same one again: a route may refuse the same body twice on its own (a unique slug).
Without clock control the same walk waits the real TTL (a ``slow`` check). Side effects
are counted in A8: exactly two executions over the three requests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Final

from secondconf.checks.hardening.walk import RouteClient, Sent
from secondconf.contract.catalog import rule_by_id
from secondconf.contract.traceids import new_idempotency_key
from secondconf.core.secret import Secret
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Verdict
from secondconf.target.routes import other_body, unique_token

TTL_S: Final = 900.0
MARGIN_S: Final = 10.0
TTL_RULE: Final = rule_by_id("IDEM-13")

# Runs the block with the platform's clock ``offset`` seconds ahead (or waits that long).
TimeShift = Callable[[float], AbstractContextManager[None]]


def check_ttl_boundary(
    route: RouteClient, shift: TimeShift, a8_key: Secret, deadline_s: float
) -> Verdict:
    """Send, replay at TTL − margin, reuse the key at TTL + margin; judge answers and effects."""
    key, body = new_idempotency_key(), route.new_body()
    first = route.send(key, body)
    with shift(TTL_S - MARGIN_S):
        inside = route.send(key, body)
    with shift(TTL_S + MARGIN_S):
        outside = route.send(key, other_body(route.route, body, unique_token()))
    violations = list(_answers(first, inside, outside))
    each = route.effects([first, inside, outside], a8_key, deadline_s)
    seen, once = sum(each, Counter[str]()), each[0]
    for name, count in seen.items():
        if count != 2 * once.get(name, 0):
            violations.append(
                f"{name}: {count} in A8 over the three requests, expected two executions' "
                f"{2 * once.get(name, 0)}"
            )
    requests = [
        answer.record(route.app_id, route.route, route.template, sent)
        for answer, sent in (
            (first, "fresh key"),
            (inside, f"same request at TTL - {MARGIN_S:g} s"),
            (outside, f"same key, another body at TTL + {MARGIN_S:g} s"),
        )
    ]
    return rule_verdict(
        TTL_RULE,
        route.app_id,
        cases=2,
        violations=violations,
        source="probe+A8",
        details={
            "route": route.route.label,
            "requests": [record.to_dict() for record in requests],
            "ttl_s": TTL_S,
        },
    )


def _answers(first: Sent, inside: Sent, outside: Sent) -> Iterator[str]:
    if not first.fresh:
        yield f"the first request answered {first.status} (replayed={first.replayed})"
        return
    if not (inside.replayed and inside.status == first.status and inside.body == first.body):
        yield (
            f"at TTL - {MARGIN_S:g} s: answered {inside.status} replayed={inside.replayed}, "
            "not the stored answer"
        )
    if not outside.fresh:
        yield (
            f"at TTL + {MARGIN_S:g} s: another body answered {outside.status} "
            f"replayed={outside.replayed}, not a new execution (the key should be free)"
        )
