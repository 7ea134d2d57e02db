"""The refusal judge COPPA-01 and INT-01 share: a status, problem+json, a type suffix."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from secondconf.checks.compliance.actor import event_arrives, refusal_problems
from secondconf.target.a8 import RawEvents

PROBLEM = {"content-type": "application/problem+json"}


@pytest.mark.parametrize(
    ("answer", "findings"),
    [
        (None, ["x: answered no answer, not 403"]),
        (httpx.Response(201, json={}), ["x: answered 201, not 403"]),
        (
            httpx.Response(403, json={"type": "urn:coppa-age-gate"}),
            ["x: the 403 is not application/problem+json"],
        ),
        (
            httpx.Response(403, json={"type": "urn:other"}, headers=PROBLEM),
            ["x: problem type 'urn:other' does not end 'coppa-age-gate'"],
        ),
        (httpx.Response(403, json={"type": "urn:x:coppa-age-gate"}, headers=PROBLEM), []),
    ],
)
def test_a_refusal_is_its_status_with_problem_json_of_its_type(
    answer: httpx.Response | None, findings: list[str]
) -> None:
    assert refusal_problems("x", answer, 403, "coppa-age-gate") == findings


class SlowA8:
    """Holds the event from its third read on."""

    def __init__(self) -> None:
        self.reads: list[dict[str, Any]] = []

    async def raw_events(self, **query: Any) -> RawEvents:
        self.reads.append(query)
        return RawEvents(
            items=[{"event": "identity_ok"}] if len(self.reads) >= 3 else [], truncated=False
        )


def test_an_event_is_polled_for_until_a8_holds_it() -> None:
    a8 = SlowA8()

    assert asyncio.run(event_arrives(a8, "t1", "identity_ok"))  # type: ignore[arg-type]
    assert a8.reads == [{"trace_id": "t1", "event": "identity_ok"}] * 3
