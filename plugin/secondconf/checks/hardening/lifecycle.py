"""A key's life in time (contract §4): the IDEM-18 state machine, and the TTL boundary's
variants when the app's clock cannot be moved.

IDEM-18: Hypothesis walks keys through submits, replays, other bodies and moves of the
app's clock on one countable route, against a model of each key's record (body, answer,
birth on the app's clock) until the 15-minute TTL. Every answer is judged as it comes;
after the walk one count in A8 checks the invariant: business events = key lives the
model accepted x what one execution causes (the hardening run's baseline). A walk that
never went through a required path (a replay and another body within the TTL, and with
clock control a key reused after it) confirms nothing and is INCONCLUSIVE.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Final, Protocol

import hypothesis
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from secondconf.checks.hardening.ttl import TTL_RULE, TTL_S, TimeShift
from secondconf.checks.hardening.walk import Sent
from secondconf.contract.catalog import rule_by_id
from secondconf.contract.traceids import new_idempotency_key
from secondconf.core.secret import Secret
from secondconf.engine.evidence import RequestRecord
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Verdict
from secondconf.target.routes import MutatingRoute, other_body, unique_token

MODEL_RULE: Final = rule_by_id("IDEM-18")
AMBIGUOUS_S: Final = 30.0  # ages this close to the TTL may fall either side: the answer decides
REQUIRED_PATHS: Final = (
    "a replay within the TTL",
    "another body within the TTL",
    "a key reused after the TTL",  # needs clock control
)
CLOCK_STEPS_S: Final = (950.0, 300.0, 620.0)  # the crossing step first: Hypothesis favours it
WALK_SETTINGS: Final = hypothesis.settings(
    max_examples=15,
    stateful_step_count=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)


class WalkedRoute(Protocol):
    """One route, one request at a time (:class:`~secondconf.checks.hardening.walk.RouteClient`)."""

    app_id: str
    template: str
    route: MutatingRoute

    def new_body(self) -> Any: ...

    def send(self, key: str, body: Any) -> Sent: ...

    def effects(
        self, sent: Sequence[Sent], a8_key: Secret, deadline_s: float
    ) -> list[Counter[str]]: ...


class ClockControl(Protocol):
    """Moves the platform's clock (:class:`~secondconf.target.control.TargetControl`)."""

    def move_platform_clock(self, offset_s: float) -> None: ...

    def platform_clock_offset(self, offset_s: float) -> AbstractContextManager[None]: ...


def ttl_not_crossed(app_id: str) -> Verdict:
    """IDEM-13 when neither variant can run: INCONCLUSIVE, saying why."""
    return rule_verdict(
        TTL_RULE,
        app_id,
        cases=0,
        violations=[],
        untested=[
            "no clock control (the target offers none, or staging has no inject_503 "
            "approval) and test_ttl_boundary_real_time (-m slow, waits 15 minutes) "
            "is not selected"
        ],
    )


def waiting_shift(
    monotonic: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
) -> TimeShift:
    """The TTL boundary's shift without clock control: wait until ``offset`` seconds after
    this call, then run the block."""
    started = monotonic()

    @contextlib.contextmanager
    def wait_until(offset: float) -> Iterator[None]:
        sleep(max(0.0, started + offset - monotonic()))
        yield

    return wait_until


def check_lifecycle(
    route: WalkedRoute,
    control: ClockControl | None,
    a8_key: Secret,
    deadline_s: float,
    baseline: Mapping[str, int],
    *,
    monotonic: Callable[[], float] = time.monotonic,
    settings: hypothesis.settings = WALK_SETTINGS,
) -> Verdict:
    """IDEM-18 on ``route``: the walk, its answers judged as they come, then its effects
    counted in A8 against ``baseline`` (the business events one execution causes).
    Without ``control`` the walk stays within one TTL; with it the app's clock is back at
    0 when the walk ends, whatever happened."""
    with contextlib.ExitStack() as restore:
        walk = _Walk(route, control, restore, monotonic)
        run_state_machine_as_test(_machine(walk), settings=settings)
    walk.judge_effects(a8_key, deadline_s, baseline)
    missing = walk.missing_paths()
    return rule_verdict(
        MODEL_RULE,
        route.app_id,
        cases=0 if missing else walk.examples,
        violations=walk.violations,
        untested=missing,
        source="probe+A8",
        details={
            "route": route.route.label,
            "requests": [record.to_dict() for record in walk.requests],
            "clock_control": control is not None,
            "exercised": sorted(walk.exercised),
        },
    )


class _Walk:
    """What the state machine shares across its examples: the route, the clock control,
    the app clock's offset so far (it only moves forward) and what was seen."""

    def __init__(
        self,
        route: WalkedRoute,
        control: ClockControl | None,
        restore: contextlib.ExitStack,
        monotonic: Callable[[], float],
    ) -> None:
        self.route = route
        self.control = control
        self.monotonic = monotonic
        self._restore = restore
        self.offset = 0.0  # how far the app's clock is ahead, 0 until the first move
        self.violations: list[str] = []
        self.requests: list[RequestRecord] = []
        self.examples = 0
        self.exercised: set[str] = set()  # which of REQUIRED_PATHS the walk went through
        self.sent: list[Sent] = []  # every request of every example
        self.executions = 0  # key lives the model accepted, over every example

    def move_clock(self, control: ClockControl, seconds: float) -> None:
        """The platform's clock (the walked app's and every app it calls) ``seconds``
        further ahead; the first move also arranges its return to 0 at the end of the walk."""
        first = self.offset == 0.0
        self.offset += seconds
        if first:
            self._restore.enter_context(control.platform_clock_offset(self.offset))
        else:
            control.move_platform_clock(self.offset)

    def judge_effects(self, a8_key: Secret, deadline_s: float, baseline: Mapping[str, int]) -> None:
        """The invariant, over the whole walk (one count in A8 after a marker): business
        events = accepted key lives x what one execution causes."""
        if not self.sent:
            return
        seen = sum(self.route.effects(self.sent, a8_key, deadline_s), Counter[str]())
        for name in set(seen) | set(baseline):
            expected = self.executions * baseline.get(name, 0)
            if seen.get(name, 0) != expected:
                self.violations.append(
                    f"{name}: {seen.get(name, 0)} in A8 for {self.executions} accepted "
                    f"key life(s), expected {expected}"
                )

    def missing_paths(self) -> list[str]:
        """What the walk never exercised: a model that was not walked confirms nothing."""
        required = REQUIRED_PATHS if self.control is not None else REQUIRED_PATHS[:2]
        return [f"the walk never exercised: {p}" for p in required if p not in self.exercised]


def _machine(walk: _Walk) -> type[RuleBasedStateMachine]:
    class IdempotencyLifecycle(RuleBasedStateMachine):
        """Model: a key's record (body, answer, birth on the app's clock) until the TTL."""

        keys = Bundle("keys")

        @initialize()
        def start(self) -> None:
            self.records: dict[str, tuple[Any, Sent, float]] = {}
            self.sent: list[Sent] = []
            self.executions = 0
            self.started = walk.monotonic() - walk.offset
            walk.examples += 1

        def now(self) -> float:
            return walk.monotonic() - self.started

        def _send(self, key: str, body: Any, what: str) -> Sent:
            answer = walk.route.send(key, body)
            self.sent.append(answer)
            walk.requests.append(
                answer.record(walk.route.app_id, walk.route.route, walk.route.template, what)
            )
            return answer

        def _born(self, key: str, body: Any, answer: Sent) -> None:
            self.records[key] = (body, answer, self.now())
            self.executions += 1

        @rule(target=keys)
        def submit(self) -> str:
            key, body = new_idempotency_key(), walk.route.new_body()
            answer = self._send(key, body, "submit a new key")
            if not answer.fresh:
                walk.violations.append(f"a new key answered {answer.status}")
            else:
                self._born(key, body, answer)
            return key

        @rule(key=keys)
        def replay(self, key: str) -> None:
            if key not in self.records:
                return
            body, stored, born = self.records[key]
            age = self.now() - born
            if age > TTL_S - AMBIGUOUS_S:
                return  # the same body again after the TTL is the domain's call (a unique slug)
            answer = self._send(key, body, f"replay at age {age:.0f} s")
            self._judge(key, body, stored, age, answer, expect_within="replay")

        @rule(key=keys)
        def mismatch(self, key: str) -> None:
            if key not in self.records:
                return
            original, stored, born = self.records[key]
            body = other_body(walk.route.route, original, unique_token())
            age = self.now() - born
            answer = self._send(key, body, f"other body at age {age:.0f} s")
            self._judge(key, body, stored, age, answer, expect_within="422")

        def _judge(
            self, key: str, body: Any, stored: Sent, age: float, answer: Sent, expect_within: str
        ) -> None:
            within = age < TTL_S - AMBIGUOUS_S
            beyond = age > TTL_S + AMBIGUOUS_S
            if within:
                walk.exercised.add(REQUIRED_PATHS[0 if expect_within == "replay" else 1])
            elif beyond:
                walk.exercised.add(REQUIRED_PATHS[2])
            if answer.fresh and not within:  # a new life for the key
                self._born(key, body, answer)
                return
            if beyond:
                walk.violations.append(
                    f"key at age {age:.0f} s: answered {answer.status} "
                    f"replayed={answer.replayed}, not a new execution"
                )
                return
            if expect_within == "replay":
                if not (answer.replayed and answer.body == stored.body) and within:
                    walk.violations.append(
                        f"replay at age {age:.0f} s: answered "
                        f"{answer.status} replayed={answer.replayed}"
                    )
            elif answer.status != 422 and within:
                walk.violations.append(
                    f"other body at age {age:.0f} s: answered {answer.status}, not 422"
                )

        # Only with keys alive; the crossing step first (Hypothesis favours early values).
        @precondition(lambda self: bool(self.records))
        @rule(seconds=st.sampled_from(CLOCK_STEPS_S))
        def advance_clock(self, seconds: float) -> None:
            if walk.control is not None:  # without it the walk stays within one TTL
                walk.move_clock(walk.control, seconds)
                self.started -= seconds

        def teardown(self) -> None:
            walk.sent.extend(self.sent)
            walk.executions += self.executions

    return IdempotencyLifecycle
