"""PRD-39 passes the harness's own clients and FAILs a client whose guard is missing,
forgets one condition, refuses too much, or lets a write go out without its tags."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from secondconf.checks.safety.prod_guard import (
    HARNESS_CLIENTS,
    METHODS,
    SELF_TEST_PATH,
    WRITE_METHODS,
    ClientFactory,
    RecordingTransport,
    check_prod_guard,
    guard_cases,
)
from secondconf.engine.evidence import RequestRecord
from secondconf.engine.verdict import Outcome, Reason, Verdict
from secondconf.target.client import (
    SYNTHETIC_IDENTITY_HEADER,
    ProdObserveGuard,
    RequestPolicy,
    WriteGate,
    add_trace_id,
)


def by_method(verdicts: list[Verdict]) -> dict[str, Verdict]:
    return {str(v.subject): v for v in verdicts}


def guarded(
    policy: RequestPolicy,
    *,
    around: Callable[[httpx.BaseTransport], httpx.BaseTransport] = lambda t: t,
) -> ClientFactory:
    """A blocking client guarded by ``policy``, ``around`` between the guard and the network."""

    def factory(recorder: RecordingTransport, gate: WriteGate | None) -> httpx.Client:
        guard = ProdObserveGuard(around(recorder), policy, gate)
        return httpx.Client(
            base_url="https://x.invalid", transport=guard, event_hooks={"request": [add_trace_id]}
        )

    return factory


@dataclass(frozen=True)
class ForgetfulPolicy(RequestPolicy):
    """The prod_observe policy with one condition (named by its message) forgotten."""

    forgets: str = ""

    def missing_elements(self, request: httpx.Request) -> list[str]:
        return [m for m in super().missing_elements(request) if self.forgets not in m]


def failing_cases(verdict: Verdict) -> set[str]:
    return {r["sent"] for r in verdict.details["requests"] if r["result"] != "ok"}


def test_the_harness_clients_pass_every_case() -> None:
    verdicts = by_method(check_prod_guard())
    assert list(verdicts) == list(METHODS)
    cases = guard_cases()
    for method, verdict in verdicts.items():
        assert (verdict.outcome, verdict.reason) == (Outcome.PASS, Reason.CHECK_PASSED), (
            verdict.details["violations"]
        )
        expected = 2 * sum(c.method == method for c in cases)  # sync and async
        assert verdict.n == expected == len(verdict.details["requests"])
        assert verdict.details["rule"] == "PRD-39"
        assert {r["result"] for r in verdict.details["requests"]} == {"ok"}
    post = verdicts["POST"].details["requests"]
    assert {r["status"] for r in post} == {"refused", "sent"}
    sent = [r["sent"] for r in post if r["status"] == "sent"]
    assert sent == [
        "sync client: fully synthetic as test_student_e2e_01",
        "sync client: fully synthetic as test_provider_e2e_01",
        "async client: fully synthetic as test_student_e2e_01",
        "async client: fully synthetic as test_provider_e2e_01",
    ]
    unapproved = [r["sent"] for r in post if "no prod_write approval" in r["sent"]]
    assert len(unapproved) == 4
    assert all(r["status"] == "refused" for r in post if r["sent"] in unapproved)
    assert {r["status"] for r in verdicts["GET"].details["requests"]} == {"sent"}
    assert {r["status"] for r in verdicts["OPTIONS"].details["requests"]} == {"refused"}
    for verdict in verdicts.values():
        for row in verdict.details["requests"]:
            record = RequestRecord.from_dict(row)
            assert (record.app, record.path) == ("harness", SELF_TEST_PATH)
            assert record.to_dict() == row  # the six keys, nothing else (no header values)


def test_the_cases_cover_each_shortfall_for_each_write_method() -> None:
    names = {c.name for c in guard_cases() if c.method == "PATCH" and c.must_refuse}
    for shortfall in (
        "no X-Test-Run",
        "X-Test-Run: false",
        "no X-Source",
        "X-Source: web (not qa)",
        "no X-Synthetic-Identity",
        "X-Idempotency-Key with a comma",
        "no X-Trace-Id",
        "X-Trace-Id all zero",
    ):
        assert shortfall in names
    assert any(n.startswith("bearer JWT with sub real_user_42") for n in names)
    assert {c.method for c in guard_cases() if c.must_refuse} == {*WRITE_METHODS, "OPTIONS"}


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_client_without_the_guard_fails_every_write_method(kind: str) -> None:
    plain: ClientFactory = (
        (lambda r, _gate: httpx.Client(transport=r, base_url="https://x.invalid"))
        if kind == "sync"
        else (lambda r, _gate: httpx.AsyncClient(transport=r, base_url="https://x.invalid"))
    )
    verdicts = by_method(check_prod_guard({kind: plain}))
    for method in WRITE_METHODS:
        verdict = verdicts[method]
        assert (verdict.outcome, verdict.reason) == (Outcome.FAIL, Reason.CHECK_FAILED)
        refusals = [c for c in guard_cases() if c.method == method and c.must_refuse]
        synthetic = [c for c in guard_cases() if c.method == method and c.identity is not None]
        assert failing_cases(verdict) == {f"{kind} client: {c.name}" for c in refusals} | {
            f"{kind} client: {c.name}" for c in synthetic
        }
        reached = "reached the transport: not refused before sending"
        unlogged = "sent without a prod_write entry in the HITL log naming it"
        assert all(v.endswith((reached, unlogged)) for v in verdict.details["violations"])
    assert failing_cases(verdicts["OPTIONS"]) == {f"{kind} client: bare OPTIONS, no tags"}
    # Without the harness's hook a read goes out without a trace id, which fails too.
    assert verdicts["GET"].details["violations"] == [
        f"{kind} client, bare read, no tags: sent without a valid X-Trace-Id"
    ]


def test_the_harness_factories_really_are_the_harness_clients() -> None:
    """The default factories keep the harness's guard and only replace the network."""
    recorder = RecordingTransport()
    for factory in HARNESS_CLIENTS.values():
        client = factory(recorder, None)
        transport = client._transport
        assert isinstance(transport, ProdObserveGuard)
        assert transport.inner is recorder
        assert transport.policy.observe_only


@pytest.mark.parametrize(
    "forgets",
    [
        "X-Test-Run",
        "X-Source",
        "X-Synthetic-Identity",
        "bearer token",
        "X-Idempotency-Key",
        "X-Trace-Id",
    ],
)
def test_a_policy_that_forgets_one_condition_fails_on_exactly_its_cases(forgets: str) -> None:
    verdicts = by_method(
        check_prod_guard({"sync": guarded(ForgetfulPolicy("prod_observe", forgets=forgets))})
    )
    for method in WRITE_METHODS:
        verdict = verdicts[method]
        assert (verdict.outcome, verdict.reason) == (Outcome.FAIL, Reason.CHECK_FAILED)
        cases = [c for c in guard_cases() if c.method == method and c.refusal_names == forgets]
        expected = {f"sync client: {c.name}" for c in cases}
        if forgets == "X-Test-Run":  # refused for its other shortfalls, without naming this one
            expected.add("sync client: no tags at all")
        assert failing_cases(verdict) == expected
        assert any(
            "reached the transport: not refused before sending" in v
            for v in verdict.details["violations"]
        )
    assert verdicts["GET"].outcome is Outcome.PASS


def test_a_guard_that_refuses_reads_and_synthetic_writes_fails() -> None:
    class RefuseAll(RequestPolicy):
        def missing_elements(self, request: httpx.Request) -> list[str]:
            return ["X-Test-Run: true (refuses everything)"]

    verdicts = by_method(check_prod_guard({"sync": guarded(RefuseAll("prod_observe"))}))
    assert verdicts["GET"].details["violations"] == [
        "sync client, bare read, no tags: refused, but it may be sent "
        "(missing: X-Test-Run: true (refuses everything))"
    ]
    post = verdicts["POST"].details["violations"]
    assert any(
        v.startswith("sync client, fully synthetic as test_student_e2e_01: refused") for v in post
    )
    # A refusal for the wrong reason is caught too.
    named = "named: X-Test-Run: true (refuses everything)"
    assert f"sync client, no X-Source: refused without naming X-Source ({named})" in post


class StripIdentity(httpx.BaseTransport):
    """Between the guard and the network: drops the identity after the guard looked."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        del request.headers[SYNTHETIC_IDENTITY_HEADER]
        return self.inner.handle_request(request)


def test_a_synthetic_write_that_goes_out_without_its_identity_fails() -> None:
    factory = guarded(RequestPolicy("prod_observe"), around=StripIdentity)
    verdicts = by_method(check_prod_guard({"sync": factory}))
    for method in WRITE_METHODS:
        assert verdicts[method].details["violations"] == [
            f"sync client, fully synthetic as {who}: sent without X-Synthetic-Identity: {who}"
            for who in ("test_student_e2e_01", "test_provider_e2e_01")
        ]
