"""The IDEM-18 state machine against a fake route that keeps §4's idempotency, then breaks
it one way at a time; time is a hand-moved clock and the app's clock offset a fake control.

The reference target shows the same in tests/harness (dedupe off); here the faults it has
no switch for: a key that never expires, and a replay that answers as stored but executes.
"""

from __future__ import annotations

import contextlib
import fnmatch
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import hypothesis
import pytest
from secondconf.checks.hardening.lifecycle import (
    REQUIRED_PATHS,
    check_lifecycle,
    ttl_not_crossed,
    waiting_shift,
)
from secondconf.checks.hardening.ttl import TTL_S
from secondconf.checks.hardening.walk import Sent
from secondconf.core.clock import ManualClock
from secondconf.core.secret import Secret
from secondconf.engine.evidence import RequestRecord
from secondconf.engine.verdict import Outcome
from secondconf.target.routes import MutatingRoute

ROUTE = MutatingRoute(
    "A2",
    "POST",
    "/v1/orders",
    {"item": "book"},
    schema={"properties": {"item": {"type": "string"}}},
)
EFFECT = "order_created"
A8_KEY = Secret("A8_TELEMETRY_KEY", "not-a-real-key")


class FakeRoute:
    """An app's route with idempotency records on its own clock (the test clock plus the
    offset the control sets); each execution causes one ``order_created``."""

    app_id = "A2"
    template = "/v1/orders"
    route = ROUTE

    def __init__(self, clock: ManualClock, faults: frozenset[str] = frozenset()) -> None:
        self.clock = clock
        self.faults = faults
        self.offset = 0.0
        self.records: dict[str, tuple[Any, Any, float]] = {}
        self.executed: dict[str, int] = {}  # trace -> business events it caused
        self.bodies = 0

    def new_body(self) -> Any:
        self.bodies += 1
        return {"item": f"book-{self.bodies}"}

    def send(self, key: str, body: Any) -> Sent:
        self.clock.advance(1.0)
        trace, now = f"trace-{len(self.executed) + 1}", self.clock.monotonic() + self.offset
        record = self.records.get(key)
        alive = record is not None and (
            "keys_never_expire" in self.faults or now - record[2] < TTL_S
        )
        if record is not None and alive and "no_dedupe" not in self.faults:
            if record[0] != body:
                self.executed[trace] = 0
                return Sent(key, trace, 422, {"title": "key reused"}, replayed=False)
            self.executed[trace] = 1 if "replay_executes" in self.faults else 0
            return Sent(key, trace, 201, record[1], replayed=True)
        answer = {"id": len(self.records) + 1}
        self.records[key] = (body, answer, now)
        self.executed[trace] = 1
        return Sent(key, trace, 201, answer, replayed=False)

    def effects(
        self, sent: Sequence[Sent], a8_key: Secret, deadline_s: float
    ) -> list[Counter[str]]:
        return [Counter({EFFECT: self.executed[s.trace]}) for s in sent]


class FakeControl:
    """Moves the fake platform's clock, and remembers every offset it set."""

    def __init__(self, app: FakeRoute) -> None:
        self.app = app
        self.offsets: list[float] = []

    def move_platform_clock(self, offset_s: float) -> None:
        self.app.offset = offset_s
        self.offsets.append(offset_s)

    @contextlib.contextmanager
    def platform_clock_offset(self, offset_s: float) -> Iterator[None]:
        self.move_platform_clock(offset_s)
        try:
            yield
        finally:
            self.move_platform_clock(0.0)


def walk(
    faults: frozenset[str] = frozenset(),
    *,
    control: bool = True,
    settings: hypothesis.settings | None = None,
) -> tuple[Any, FakeRoute, FakeControl | None]:
    clock = ManualClock()
    app = FakeRoute(clock, faults)
    fake_control = FakeControl(app) if control else None
    extra = {} if settings is None else {"settings": settings}
    verdict = check_lifecycle(
        app, fake_control, A8_KEY, 1.0, {EFFECT: 1}, monotonic=clock.monotonic, **extra
    )
    return verdict, app, fake_control


def test_a_route_that_keeps_the_contract_passes_on_every_required_path() -> None:
    verdict, app, control = walk()
    assert verdict.outcome is Outcome.PASS, verdict.details["violations"]
    assert verdict.check.startswith("IDEM-18 ")
    assert verdict.details["exercised"] == sorted(REQUIRED_PATHS)
    assert verdict.details["clock_control"] is True
    assert verdict.n > 0  # the examples walked
    assert control is not None
    assert control.offsets[0] > 0.0  # the walk moved the app's clock ...
    assert control.offsets.count(0.0) == 1  # ... and set it back once, at the end
    assert app.offset == 0.0


def test_each_request_of_the_walk_is_recorded_with_its_route_key_and_trace() -> None:
    verdict, app, _ = walk()
    records = [RequestRecord.from_dict(row) for row in verdict.details["requests"]]
    assert len(records) == len(app.executed)  # one per request sent
    first = records[0]
    assert first == RequestRecord(
        app="A2",
        method="POST",
        path="/v1/orders",
        sent="submit a new key",
        status=201,
        result="executed",
        route=ROUTE.label,
        trace_id="trace-1",
        idempotency_key=first.idempotency_key,
    )
    assert first.idempotency_key in app.records
    assert {r.result for r in records} >= {"executed", "replayed", "refused"}
    assert all(r.trace_id and r.idempotency_key for r in records)


@pytest.mark.parametrize(
    ("fault", "violation"),
    [
        ("no_dedupe", "replay at age * s: answered 201 replayed=False"),
        ("keys_never_expire", "key at age * s: answered * not a new execution"),
        ("replay_executes", f"{EFFECT}: * in A8 for * accepted key life(s), expected *"),
    ],
)
def test_each_broken_lifecycle_fails_naming_what_it_saw(fault: str, violation: str) -> None:
    verdict, _, _ = walk(frozenset({fault}))
    assert verdict.outcome is Outcome.FAIL
    violations = verdict.details["violations"]
    assert any(fnmatch.fnmatchcase(v, violation) for v in violations), violations


def test_without_clock_control_the_walk_stays_within_one_ttl() -> None:
    verdict, app, _ = walk(control=False)
    assert verdict.outcome is Outcome.PASS, verdict.details["untested"]
    assert verdict.details["clock_control"] is False
    assert verdict.details["exercised"] == sorted(REQUIRED_PATHS[:2])
    assert app.offset == 0.0


def test_a_walk_that_missed_a_required_path_confirms_nothing() -> None:
    short = hypothesis.settings(
        max_examples=1, stateful_step_count=1, deadline=None, database=None, derandomize=True
    )
    verdict, _, _ = walk(settings=short)
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert "the walk never exercised: a key reused after the TTL" in verdict.details["untested"]


def test_the_ttl_not_crossed_verdict_says_why() -> None:
    verdict = ttl_not_crossed("A2")
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert verdict.check.startswith("IDEM-13 ")
    assert "test_ttl_boundary_real_time (-m slow" in verdict.details["untested"][0]


def test_the_real_time_shift_waits_until_the_offset_after_it_was_made() -> None:
    clock = ManualClock()
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    shift = waiting_shift(clock.monotonic, sleep)
    clock.advance(100.0)
    with shift(890.0):
        assert clock.monotonic() == 890.0
    with shift(910.0):
        assert clock.monotonic() == 910.0
    with shift(10.0):  # already past: no wait
        pass
    assert slept == [790.0, 20.0, 0.0]
