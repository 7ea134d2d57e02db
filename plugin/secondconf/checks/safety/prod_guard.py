"""PRD-39, the production write guard, checked as a self-test of the harness's own client.

Against ``prod_observe`` the harness must refuse, before it leaves the process, every
request that is not a GET/HEAD and not synthetic in every respect (contract §5;
:class:`secondconf.target.client.ProdObserveGuard`). Sending such requests to a production
target to see what happens is exactly what the rule forbids, so the check sends nothing
anywhere: it builds the harness's clients as configured for ``prod_observe`` and puts a
:class:`RecordingTransport` where the network would be. A request that reaches the
recorder was not refused; a request the rule lets through must reach it, carrying every
synthetic tag and the identity.

A synthetic write goes out only under a logged ``prod_write`` approval
(:mod:`secondconf.target.write_gate`): each client is built twice, once with a write gate
onto a throw-away HITL log holding a self-test approval, where every synthetic write must
be sent and leave exactly one entry naming its method, path, trace id and identity (and
the log must verify), and once without, where every write must be refused naming the gate.

The check takes the client factories, so a test can hand it a client without the guard,
or a guard whose policy forgets one condition, and see the verdict FAIL on the cases that
condition covers (``tests/plugin/test_prod_guard_check.py``).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import httpx

from secondconf.contract.catalog import rule_by_id
from secondconf.contract.platform import PROD_OBSERVE, SYNTHETIC_HEADERS, SyntheticIdentity
from secondconf.contract.traceids import (
    IDEMPOTENCY_KEY_HEADER,
    TRACE_ID_HEADER,
    is_valid_trace_id,
    new_idempotency_key,
    new_trace_id,
)
from secondconf.core.clock import SystemClock
from secondconf.engine.evidence import RequestRecord
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Verdict
from secondconf.hitl.log import ApprovalLog, ApprovalLogError, append_approval
from secondconf.hitl.prod_writes import PROD_WRITE_GATE, PROD_WRITE_PREFIX, ProdWriteLog
from secondconf.target.client import (
    NO_TRACE_ID,
    SYNTHETIC_IDENTITY_HEADER,
    ProductionWriteRefused,
    WriteGate,
    bearer_subject,
    harness_client,
    harness_sync_client,
    synthetic_headers,
)
from secondconf.target.write_gate import ProdWriteGate

PRD_39: Final = rule_by_id("PRD-39")
WRITE_METHODS: Final = ("POST", "PUT", "PATCH", "DELETE")
READ_METHODS: Final = ("GET", "HEAD")
# OPTIONS is exempt from the §4 headers, but §5 allows only GET and HEAD in prod_observe.
METHODS: Final = (*WRITE_METHODS, *READ_METHODS, "OPTIONS")
# Never resolvable (RFC 6761): should a request ever get past the recorder, it goes nowhere.
SELF_TEST_BASE_URL: Final = "https://prod-guard-selftest.invalid"
SELF_TEST_PATH: Final = "/v1/prod-guard-selftest"
REAL_USER: Final = "real_user_42"
SELF_TEST_APP: Final = "A3"  # the app the self-test's writes are logged against
SELF_TEST_ID: Final = "PRD-39 self-test"

ClientFactory = Callable[["RecordingTransport", WriteGate | None], httpx.Client | httpx.AsyncClient]
"""Builds a client onto the recorder, with the write gate given (``None``: no approval)."""


@dataclass(frozen=True)
class SentRequest:
    method: str
    path: str
    headers: httpx.Headers


@dataclass
class RecordingTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Stands where the network would be: records each request and answers 200."""

    sent: list[SentRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _record(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.sent.append(SentRequest(request.method, request.url.path, request.headers))
        return httpx.Response(200, json={"recorded": True}, request=request)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._record(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return self._record(request)

    def count(self) -> int:
        with self.lock:
            return len(self.sent)


def _onto_recorder(client: httpx.Client | httpx.AsyncClient, recorder: RecordingTransport) -> None:
    """Replace the innermost transport of ``client`` (the one that opens connections)
    with ``recorder``, keeping every wrapper around it (the guard) in place.

    The harness's builders make their network transport themselves; this reaches into
    httpx's ``_transport`` because they take no transport to use instead. A client whose
    guard is missing has its network transport replaced all the same, so its requests
    reach the recorder (and the check FAILs) instead of the network.
    """
    parent: object | None = None
    transport: object = client._transport
    while isinstance(
        inner := getattr(transport, "inner", None), httpx.BaseTransport | httpx.AsyncBaseTransport
    ):
        parent, transport = transport, inner
    if isinstance(transport, httpx.BaseTransport):
        transport.close()
    if parent is None:
        client._transport = recorder
    else:
        setattr(parent, "inner", recorder)  # noqa: B010 - any wrapper exposing .inner


def harness_sync_prod_client(recorder: RecordingTransport, gate: WriteGate | None) -> httpx.Client:
    """The harness's blocking client for ``prod_observe``, its network replaced."""
    client = harness_sync_client(SELF_TEST_BASE_URL, env=PROD_OBSERVE, write_gate=gate)
    _onto_recorder(client, recorder)
    return client


def harness_async_prod_client(
    recorder: RecordingTransport, gate: WriteGate | None
) -> httpx.AsyncClient:
    """The harness's async client for ``prod_observe``, its network replaced."""
    client = harness_client(SELF_TEST_BASE_URL, env=PROD_OBSERVE, write_gate=gate)
    _onto_recorder(client, recorder)
    return client


def self_test_gate(log_path: Path) -> ProdWriteGate:
    """A write gate onto a throw-away log at ``log_path`` holding one self-test approval."""
    clock = SystemClock()
    approval = append_approval(
        log_path,
        who=SELF_TEST_ID,
        gate=PROD_WRITE_GATE,
        env=PROD_OBSERVE,
        reason="the production write guard's self-test (nothing is sent anywhere)",
        expires_at=clock.now() + timedelta(hours=1),
        clock=clock,
    )
    log = ProdWriteLog(log_path, clock, SELF_TEST_ID, approval)
    return ProdWriteGate(log, lambda _url: SELF_TEST_APP)


HARNESS_CLIENTS: Final[Mapping[str, ClientFactory]] = {
    "sync": harness_sync_prod_client,
    "async": harness_async_prod_client,
}


def unsigned_jwt(subject: str) -> str:
    """A JWT-shaped bearer value with ``sub`` = ``subject`` (unsigned: the guard reads the
    subject without verifying, and nothing here is ever sent to a target)."""

    def part(data: Mapping[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part({'sub': subject})}.c2VsZnRlc3Q"


@dataclass(frozen=True)
class GuardCase:
    """One request and what the guard must do with it.

    ``refusal_names`` is the header the refusal must name (the one element this case
    leaves out); ``None`` means the request must be sent. ``identity`` is who a sent
    write must say it is.
    """

    method: str
    name: str
    headers: Mapping[str, str]
    refusal_names: str | None
    identity: str | None = None
    no_trace_id: bool = False
    approved: bool = True  # sent through a client whose write gate holds an approval

    @property
    def must_refuse(self) -> bool:
        return self.refusal_names is not None

    @property
    def trace_id(self) -> str | None:
        return self.headers.get(TRACE_ID_HEADER)


def fully_synthetic(identity: SyntheticIdentity = SyntheticIdentity.STUDENT) -> dict[str, str]:
    """Every element of "synthetic in every respect", with a bearer token for ``identity``."""
    return synthetic_headers(identity, idempotency_key=new_idempotency_key()) | {
        TRACE_ID_HEADER: new_trace_id(),
        "Authorization": f"Bearer {unsigned_jwt(identity)}",
    }


# Each way a mutation falls short of synthetic: (case name, header changes, the header the
# refusal must name); a change to None removes the header. Each case leaves every other
# element in place, so it shows one condition of the guard.
_Shortfall = tuple[str, Mapping[str, str | None], str]
_IDENTITY, _KEY, _TRACE = SYNTHETIC_IDENTITY_HEADER, IDEMPOTENCY_KEY_HEADER, TRACE_ID_HEADER
_SHORTFALLS: Final[Sequence[_Shortfall]] = (
    ("no X-Test-Run", {"X-Test-Run": None}, "X-Test-Run"),
    ("X-Test-Run: false", {"X-Test-Run": "false"}, "X-Test-Run"),
    ("no X-Source", {"X-Source": None}, "X-Source"),
    ("X-Source: web (not qa)", {"X-Source": "web"}, "X-Source"),
    ("no X-Synthetic-Identity", {_IDENTITY: None}, _IDENTITY),
    (f"X-Synthetic-Identity: {REAL_USER} (not synthetic)", {_IDENTITY: REAL_USER}, _IDENTITY),
    (
        f"bearer JWT with sub {REAL_USER} under a synthetic X-Synthetic-Identity",
        {"Authorization": f"Bearer {unsigned_jwt(REAL_USER)}"},
        "bearer token",
    ),
    ("no X-Idempotency-Key", {_KEY: None}, _KEY),
    ("X-Idempotency-Key empty", {_KEY: ""}, _KEY),
    ("X-Idempotency-Key with a comma", {_KEY: "k1,k2"}, _KEY),
    ("X-Idempotency-Key of 256 characters", {_KEY: "k" * 256}, _KEY),
    ("X-Trace-Id all zero", {_TRACE: "0" * 32}, _TRACE),
    ("X-Trace-Id uppercase", {_TRACE: "4BF92F3577B34DA6A3CE929D0E0E4736"}, _TRACE),
    ("X-Trace-Id of 31 digits", {_TRACE: "4bf92f3577b34da6a3ce929d0e0e473"}, _TRACE),
)


def _changed(headers: dict[str, str], changes: Mapping[str, str | None]) -> dict[str, str]:
    for name, value in changes.items():
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    return headers


def guard_cases() -> list[GuardCase]:
    """Every case of the self-test, with fresh keys and trace ids."""
    cases: list[GuardCase] = []
    for method in WRITE_METHODS:
        for name, changes, names in _SHORTFALLS:
            cases.append(GuardCase(method, name, _changed(fully_synthetic(), changes), names))
        # Without the opt-out the client would add the trace id this case leaves out.
        headers = _changed(fully_synthetic(), {_TRACE: None})
        cases.append(GuardCase(method, "no X-Trace-Id", headers, _TRACE, no_trace_id=True))
        cases.append(GuardCase(method, "no tags at all", {}, "X-Test-Run"))
        for identity in SyntheticIdentity:
            cases.append(
                GuardCase(
                    method,
                    f"fully synthetic as {identity}",
                    fully_synthetic(identity),
                    None,
                    identity,
                )
            )
            cases.append(
                GuardCase(
                    method,
                    f"fully synthetic as {identity}, no {PROD_WRITE_GATE} approval",
                    fully_synthetic(identity),
                    PROD_WRITE_GATE,
                    approved=False,
                )
            )
    for method in READ_METHODS:
        cases.append(GuardCase(method, "bare read, no tags", {}, None))
    cases.append(GuardCase("OPTIONS", "bare OPTIONS, no tags", {}, "X-Test-Run"))
    return cases


@dataclass(frozen=True)
class CaseResult:
    client: str
    case: GuardCase
    refused: ProductionWriteRefused | None
    error: str | None
    reached: list[SentRequest]
    logged: tuple[str, ...] = ()  # the HITL log's prod-write entries with this trace id
    log_problem: str | None = None  # the self-test log did not verify

    def violation(self) -> str | None:
        """What is wrong with how the guard handled this case (``None``: nothing)."""
        problems = self._refusal_problems() if self.case.must_refuse else self._sent_problems()
        problems.extend(self._log_problems())
        return "; ".join(problems) if problems else None

    def _log_problems(self) -> list[str]:
        if self.log_problem is not None:
            return [self.log_problem]
        case = self.case
        if case.must_refuse or case.identity is None:
            return [f"logged as a {PROD_WRITE_GATE} though not sent"] if self.logged else []
        named = f"{case.method} {SELF_TEST_PATH} trace {case.trace_id} as {case.identity} "
        if [entry for entry in self.logged if entry.startswith(PROD_WRITE_PREFIX + named)]:
            return [] if len(self.logged) == 1 else [f"logged {len(self.logged)} times, not once"]
        return [f"sent without a {PROD_WRITE_GATE} entry in the HITL log naming it"]

    def _refusal_problems(self) -> list[str]:
        if self.reached:
            return ["reached the transport: not refused before sending"]
        if self.refused is None:
            return [f"not refused ({self.error or 'answered without sending'})"]
        expected = str(self.case.refusal_names)
        if not any(expected in element for element in self.refused.missing):
            return [f"refused without naming {expected} (named: {'; '.join(self.refused.missing)})"]
        return []

    def _sent_problems(self) -> list[str]:
        if self.refused is not None:
            return [f"refused, but it may be sent (missing: {'; '.join(self.refused.missing)})"]
        if self.error is not None:
            return [f"failed before sending: {self.error}"]
        if len(self.reached) != 1:
            return [f"reached the transport {len(self.reached)} times, not once"]
        return _missing_on_the_wire(self.case, self.reached[0].headers)

    def record(self) -> RequestRecord:
        """The request as the verdict lists it: what the guard did with it in the status
        (``refused``, ``sent``, ``error``: nothing answers a self-test), no header values."""
        if self.refused is not None:
            status = "refused"
        elif self.reached:
            status = "sent"
        else:
            status = "error"
        return RequestRecord(
            app="harness",
            method=self.case.method,
            path=SELF_TEST_PATH,
            sent=f"{self.client} client: {self.case.name}",
            status=status,
            result=self.violation() or "ok",
        )


def _missing_on_the_wire(case: GuardCase, sent: httpx.Headers) -> list[str]:
    """What the request that went out lacks: every tag and the identity for a write, a
    valid trace id for anything."""
    problems: list[str] = []
    if not is_valid_trace_id(sent.get(TRACE_ID_HEADER, "")):
        problems.append("sent without a valid X-Trace-Id")
    if case.identity is None:
        return problems
    for name, value in SYNTHETIC_HEADERS.items():
        if sent.get(name) != value:
            problems.append(f"sent without {name}: {value}")
    if sent.get(SYNTHETIC_IDENTITY_HEADER) != case.identity:
        problems.append(f"sent without {SYNTHETIC_IDENTITY_HEADER}: {case.identity}")
    if sent.get(IDEMPOTENCY_KEY_HEADER) != case.headers[IDEMPOTENCY_KEY_HEADER]:
        problems.append(f"sent without its {IDEMPOTENCY_KEY_HEADER}")
    if sent.get(TRACE_ID_HEADER) != case.headers[TRACE_ID_HEADER]:
        problems.append(f"sent with another {TRACE_ID_HEADER} than its own")
    if bearer_subject(sent.get("Authorization")) != case.identity:
        problems.append(f"sent without its bearer token for {case.identity}")
    return problems


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}".rstrip(
        ": "
    )


def _request_args(case: GuardCase) -> dict[str, Any]:
    return {
        "method": case.method,
        "url": SELF_TEST_PATH,
        "headers": dict(case.headers),
        "extensions": {NO_TRACE_ID: True} if case.no_trace_id else {},
    }


def _logged(results: list[CaseResult], log_path: Path) -> list[CaseResult]:
    """Each result with the self-test log's prod-write entries for its trace id."""
    try:
        log = ApprovalLog.load(log_path)
    except ApprovalLogError as error:
        return [dataclasses.replace(r, log_problem=f"the HITL log: {error}") for r in results]
    whats = [a.what for a in log.actions if a.what.startswith(PROD_WRITE_PREFIX)]
    return [
        dataclasses.replace(
            r,
            logged=tuple(w for w in whats if r.case.trace_id and f" {r.case.trace_id} " in w),
        )
        for r in results
    ]


def _result(
    name: str, case: GuardCase, recorder: RecordingTransport, before: int, outcome: object
) -> CaseResult:
    reached = recorder.sent[before:]
    if isinstance(outcome, ProductionWriteRefused):
        return CaseResult(name, case, outcome, None, reached)
    if isinstance(outcome, Exception):
        return CaseResult(name, case, None, _describe(outcome), reached)
    return CaseResult(name, case, None, None, reached)


def _run_sync(
    name: str, client: httpx.Client, recorder: RecordingTransport, cases: Sequence[GuardCase]
) -> list[CaseResult]:
    results: list[CaseResult] = []
    with client:
        for case in cases:
            before = recorder.count()
            outcome: object
            try:
                outcome = client.request(**_request_args(case))
            except Exception as error:  # any failure is a finding about the guard
                outcome = error
            results.append(_result(name, case, recorder, before, outcome))
    return results


async def _run_async(
    name: str, client: httpx.AsyncClient, recorder: RecordingTransport, cases: Sequence[GuardCase]
) -> list[CaseResult]:
    results: list[CaseResult] = []
    async with client:
        for case in cases:
            before = recorder.count()
            outcome: object
            try:
                outcome = await client.request(**_request_args(case))
            except Exception as error:  # any failure is a finding about the guard
                outcome = error
            results.append(_result(name, case, recorder, before, outcome))
    return results


def run_guard_cases(
    factories: Mapping[str, ClientFactory] = HARNESS_CLIENTS,
    cases: Sequence[GuardCase] | None = None,
) -> list[CaseResult]:
    """Send every case through a client from each factory, each onto its own recorder:
    approved cases through one with a self-test write gate, the others through one without."""
    cases = guard_cases() if cases is None else cases
    results: list[CaseResult] = []
    for name, factory in factories.items():
        recorder = RecordingTransport()
        with tempfile.TemporaryDirectory(prefix="prd39-") as folder:
            log_path = Path(folder) / "hitl_approvals.log"
            gate = self_test_gate(log_path)
            mine: list[CaseResult] = []
            for approved in (True, False):
                batch = [c for c in cases if c.approved is approved]
                client = factory(recorder, gate if approved else None)
                if isinstance(client, httpx.AsyncClient):
                    mine.extend(asyncio.run(_run_async(name, client, recorder, batch)))
                else:
                    mine.extend(_run_sync(name, client, recorder, batch))
            order = {id(case): n for n, case in enumerate(cases)}
            results.extend(sorted(_logged(mine, log_path), key=lambda r: order[id(r.case)]))
    return results


def check_prod_guard(factories: Mapping[str, ClientFactory] = HARNESS_CLIENTS) -> list[Verdict]:
    """PRD-39, one verdict per method: every case of that method handled as the rule says."""
    results = run_guard_cases(factories)
    verdicts: list[Verdict] = []
    for method in METHODS:
        mine = [r for r in results if r.case.method == method]
        violations = [
            f"{r.client} client, {r.case.name}: {v}" for r in mine if (v := r.violation())
        ]
        verdicts.append(
            rule_verdict(
                PRD_39,
                method,
                cases=len(mine),
                violations=violations,
                source="self-test",
                details={
                    "env": PROD_OBSERVE,
                    "clients": list(factories),
                    "requests": [r.record().to_dict() for r in mine],
                },
            )
        )
    return verdicts
