"""Phase 3: a key's life in time (contract §4): the 15-minute TTL on both sides of its
boundary, and a state machine of submits, replays, mismatches and clock moves whose
invariant is side effects = distinct keys accepted within the TTL.

Both walk one countable route (:func:`secondconf.checks.hardening.walk.countable_route`) and move
the app's clock through the target's control where it has one; without it, the TTL check
waits the real 15 minutes (``slow``) and the state machine keeps to one TTL.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import allure
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)
from secondconf.checks.hardening.model import HardeningRun
from secondconf.checks.hardening.ttl import TTL_S, check_ttl_boundary
from secondconf.checks.hardening.walk import NoRouteError, RouteClient, Sent, countable_route
from secondconf.contract.catalog import rule_by_id
from secondconf.contract.traceids import new_idempotency_key
from secondconf.core.secret import Secret
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Verdict
from secondconf.pytest_plugin.deliberate import selected, skip_covered_elsewhere
from secondconf.pytest_plugin.state import SETTINGS_KEY
from secondconf.target.control import TargetControl
from secondconf.target.deployment import Target
from secondconf.target.routes import other_body, unique_token

pytestmark = [pytest.mark.second_confirmation, pytest.mark.idempotency, pytest.mark.phase(3)]

MODEL_RULE = rule_by_id("IDEM-18")
AMBIGUOUS_S = 30.0  # ages this close to the TTL may fall either side: the answer decides
REQUIRED_PATHS = (
    "a replay within the TTL",
    "another body within the TTL",
    "a key reused after the TTL",  # needs clock control
)


@pytest.fixture
def route(
    target: Target, hardening_run: HardeningRun, pytestconfig: pytest.Config
) -> Iterator[RouteClient]:
    """The countable route, as the synthetic student."""
    env = pytestconfig.stash[SETTINGS_KEY].env.value
    try:
        label = countable_route(hardening_run)
        with RouteClient(
            target.system_map, env, target.secret("OIDC_CLIENT_SECRET"), label
        ) as client:
            yield client
    except NoRouteError as error:
        pytest.fail(f"no route to walk: {error}", pytrace=False)


def _record(verdict: Verdict, record_verdict: Callable[[Verdict], Verdict]) -> None:
    allure.dynamic.label("phase", "3")
    allure.dynamic.label("check", verdict.details.get("rule", verdict.check))
    with allure.step(f"{verdict.subject} {verdict.check}: {verdict.outcome.value}"):
        allure.attach(
            "\n".join([verdict.summary(), *verdict.details.get("violations", ())]),
            name=verdict.check,
            attachment_type=allure.attachment_type.TEXT,
        )
    record_verdict(verdict)


def test_ttl_boundary(
    request: pytest.FixtureRequest,
    target: Target,
    fault_control: TargetControl | None,
    route: RouteClient,
    exclusive_target_load: None,
    record_verdict: Callable[[Verdict], Verdict],
    pytestconfig: pytest.Config,
) -> None:
    """IDEM-13 through the target's clock control."""
    controls = fault_control
    if controls is None:
        if selected(request, "test_ttl_boundary_real_time"):
            skip_covered_elsewhere(request, "no clock control: test_ttl_boundary_real_time runs")
        _record(
            rule_verdict(
                rule_by_id("IDEM-13"),
                route.app_id,
                cases=0,
                violations=[],
                untested=[
                    "no clock control (the target offers none, or staging has no "
                    "inject_503 approval) and test_ttl_boundary_real_time "
                    "(-m slow, waits 15 minutes) is not selected"
                ],
            ),
            record_verdict,
        )
        return

    def shift(offset: float) -> contextlib.AbstractContextManager[None]:
        return controls.clock_offset(route.app_id, offset)

    deadline = pytestconfig.stash[SETTINGS_KEY].telemetry_deadline_s
    verdict = check_ttl_boundary(route, shift, target.secret("A8_TELEMETRY_KEY"), deadline)
    _record(verdict, record_verdict)


@pytest.mark.slow
def test_ttl_boundary_real_time(
    request: pytest.FixtureRequest,
    target: Target,
    fault_control: TargetControl | None,
    route: RouteClient,
    record_verdict: Callable[[Verdict], Verdict],
    pytestconfig: pytest.Config,
) -> None:
    """IDEM-13 by waiting the real TTL, for a target without clock control."""
    if fault_control is not None and selected(request, "test_ttl_boundary"):
        skip_covered_elsewhere(request, "the target has clock control: test_ttl_boundary runs")
    started = time.monotonic()

    @contextlib.contextmanager
    def wait_until(offset: float) -> Iterator[None]:
        time.sleep(max(0.0, started + offset - time.monotonic()))
        yield

    deadline = pytestconfig.stash[SETTINGS_KEY].telemetry_deadline_s
    verdict = check_ttl_boundary(route, wait_until, target.secret("A8_TELEMETRY_KEY"), deadline)
    _record(verdict, record_verdict)


class _Walk:
    """What the state machine shares across its examples: the route, the clock control,
    the app clock's offset so far (it only moves forward) and the expected events."""

    def __init__(
        self,
        route: RouteClient,
        controls: TargetControl | None,
        a8_key: Secret,
        deadline_s: float,
        baseline: dict[str, int],
    ) -> None:
        self.route = route
        self.controls = controls
        self.a8_key = a8_key
        self.deadline_s = deadline_s
        self.baseline = baseline
        self.offset = 0.0
        self.violations: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.examples = 0
        self.exercised: set[str] = set()  # which of REQUIRED_PATHS the walk went through
        self.sent: list[Sent] = []  # every request of every example
        self.executions = 0  # key lives the model accepted, over every example

    def judge_effects(self) -> None:
        """The invariant, over the whole walk (one count in A8 after a marker): business
        events = accepted key lives x what one execution causes."""
        if not self.sent:
            return
        seen = sum(self.route.effects(self.sent, self.a8_key, self.deadline_s), Counter[str]())
        for name in set(seen) | set(self.baseline):
            expected = self.executions * self.baseline.get(name, 0)
            if seen.get(name, 0) != expected:
                self.violations.append(
                    f"{name}: {seen.get(name, 0)} in A8 for {self.executions} accepted "
                    f"key life(s), expected {expected}"
                )

    def missing_paths(self) -> list[str]:
        """What the walk never exercised: a model that was not walked confirms nothing."""
        required = REQUIRED_PATHS if self.controls is not None else REQUIRED_PATHS[:2]
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
            self.started = time.monotonic() - walk.offset
            walk.examples += 1

        def now(self) -> float:
            return time.monotonic() - self.started

        def _send(self, key: str, body: Any, what: str) -> Sent:
            answer = walk.route.send(key, body)
            self.sent.append(answer)
            walk.requests.append(
                {
                    "app": walk.route.app_id,
                    "method": walk.route.route.method,
                    "path": walk.route.template,
                    "sent": what,
                    "status": answer.status,
                    "result": "replayed"
                    if answer.replayed
                    else "executed"
                    if answer.fresh
                    else "refused",
                }
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
        @rule(seconds=st.sampled_from([950.0, 300.0, 620.0]))
        def advance_clock(self, seconds: float) -> None:
            if walk.controls is None:
                return  # without clock control the walk stays within one TTL
            walk.offset += seconds
            self.started -= seconds
            walk.controls.set_faults(walk.route.app_id, {"clock_offset_s": walk.offset})

        def teardown(self) -> None:
            walk.sent.extend(self.sent)
            walk.executions += self.executions

    return IdempotencyLifecycle


def test_idempotency_state_machine(
    target: Target,
    fault_control: TargetControl | None,
    route: RouteClient,
    hardening_run: HardeningRun,
    exclusive_target_load: None,
    record_verdict: Callable[[Verdict], Verdict],
    pytestconfig: pytest.Config,
) -> None:
    """IDEM-18: Hypothesis walks keys through submit / replay / mismatch / clock moves."""
    baseline = hardening_run.baselines.get(route.route.label) or {}
    walk = _Walk(
        route,
        fault_control,
        target.secret("A8_TELEMETRY_KEY"),
        pytestconfig.stash[SETTINGS_KEY].telemetry_deadline_s,
        dict(baseline),
    )
    machine = _machine(walk)
    try:
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=15,
                stateful_step_count=12,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            ),
        )
    finally:
        if walk.controls is not None and walk.offset:
            walk.controls.reset_clock(route.app_id)
    walk.judge_effects()
    missing = walk.missing_paths()
    _record(
        rule_verdict(
            MODEL_RULE,
            route.app_id,
            cases=0 if missing else walk.examples,
            violations=walk.violations,
            untested=missing,
            source="probe+A8",
            details={
                "route": route.route.label,
                "requests": walk.requests,
                "clock_control": walk.controls is not None,
                "exercised": sorted(walk.exercised),
            },
        ),
        record_verdict,
    )
