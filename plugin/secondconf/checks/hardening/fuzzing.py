"""HDR-06: schemathesis against each app's OpenAPI document, set up for the platform's rules.

What is fuzzed: the operations the document marks ``x-contract-rules: true`` (the
mutations under contract §4). An app whose document marks none (A1's OIDC protocol
endpoints, A8's telemetry API: both outside §4 by the contract) has its GET operations
fuzzed instead, judged for crashes only; its mutations are never fuzzed (rotating A1's
keys or filling A8 with junk events is not a test) and are listed as untested with the
reason.

How the platform differs from schemathesis's defaults, and what this module does about it:

* a missing ``X-Idempotency-Key`` / ``X-Trace-Id`` is **428**, so ``missing_required_header``
  expects 428 (:func:`fuzz_config`);
* every call gets a fresh idempotency key and trace id (:class:`HeaderMinter`), written
  into the case itself so schemathesis judges what was sent: a generated value that is
  valid is replaced by a fresh one (else every repeat of a drawn key is a 422 replay
  mismatch), an invalid one (a negative case) is kept, an absent one stays absent (the
  coverage phase's missing-header case, which must get the 428). ``traceparent`` is never
  sent: a drawn one would stand in for a missing ``X-Trace-Id`` or contradict a present one
  (both documented behaviours, tested by the TRC checks, not here);
* the synthetic tags and the bearer token of the app's synthetic identity go on every call.

Every request goes through the harness client
(:func:`secondconf.target.client.harness_sync_client`), never schemathesis's own transport,
and only checks that judge the answer in hand run (checks that re-send requests by
themselves are left out). Against ``prod_observe`` this module refuses before anything is
sent (:func:`refuse_prod_observe`): fuzzing writes.

Which failures fail the verdict (``JUDGED``): the §4 header rules as the document states
them (``missing_required_header`` at 428; ``negative_data_rejection`` for cases whose only
invalid part is a header) and crashes (``not_a_server_error`` on anything but the
dependency failures 502/503/504, which the reference documents). Every other finding
(undocumented status codes, body validation stricter or looser than the schema, ``Allow``
headers) is recorded as ``advisory`` in the verdict's details: those are the quality of a
document, not a contract rule, and the reference's documents are loose there.

Bounded: a fixed seed with ``derandomize``, no deadline, ``max_examples`` per operation, and
at most ``body_coverage_per_operation`` of the coverage phase's body cases per operation
(its header, path, query and method cases are all sent).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
import hypothesis
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.case import Case
from schemathesis.generation.hypothesis.builder import (
    HypothesisTestConfig,
    HypothesisTestMode,
    create_test,
)
from schemathesis.generation.meta import CoveragePhaseData
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi import checks as openapi_checks

from secondconf.contract.catalog import rule_by_id
from secondconf.contract.platform import PROD_OBSERVE
from secondconf.contract.traceids import (
    IDEMPOTENCY_KEY_HEADER,
    TRACE_ID_HEADER,
    is_valid_idempotency_key,
    is_valid_trace_id,
    new_trace_id,
)
from secondconf.engine.evidence import RequestRecord
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Verdict
from secondconf.target.client import NO_TRACE_ID, synthetic_headers

RULE: Final = rule_by_id("HDR-06")
MISSING_HEADER_STATUSES: Final = ("428",)
DEPENDENCY_FAILURES: Final = frozenset({502, 503, 504})
RULES_EXTENSION: Final = "x-contract-rules"
SCHEMATHESIS_VERSION: Final = schemathesis.__version__

# Checks that judge the response in hand. Left out: ignored_auth, use_after_free,
# ensure_resource_availability and object_level_authorization send requests of their own
# (through schemathesis's transport, around the harness client); max_response_time is
# the latency phases' business.
CHECKS: Final = (
    not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.negative_data_rejection,
    openapi_checks.positive_data_acceptance,
    openapi_checks.missing_required_header,
    openapi_checks.unsupported_method,
    openapi_checks.allow_header_conformance,
)
CRASH_CHECK: Final = "not_a_server_error"
MISSING_HEADER_CHECK: Final = "missing_required_header"
NEGATIVE_CHECK: Final = "negative_data_rejection"
TRANSPORT_ERROR: Final = "transport_error"
Operation = APIOperation[Any, Any, Any, Any]


class FuzzingRefused(Exception):
    """Fuzzing was asked of an environment it must never touch."""


def refuse_prod_observe(env: str) -> None:
    """Raise :class:`FuzzingRefused` for ``prod_observe``: fuzzing sends generated writes."""
    if env == PROD_OBSERVE:
        raise FuzzingRefused(
            "contract fuzzing (HDR-06) never runs against prod_observe: it sends generated "
            "mutations; nothing was sent"
        )


@dataclass(frozen=True)
class FuzzPlan:
    """How much to generate; fixed seed so that CI runs are reproducible."""

    max_examples: int = 1
    body_coverage_per_operation: int = 4
    seed: int = 20260501


def new_idempotency_key() -> str:
    return f"fz-{uuid.uuid4().hex}"


@dataclass
class HeaderMinter:
    """Fresh contract headers per call, written into the case's own headers (see module doc)."""

    identity: str
    new_key: Callable[[], str] = new_idempotency_key
    new_trace: Callable[[], str] = new_trace_id

    def mint(self, headers: MutableMapping[str, Any]) -> None:
        for name in [n for n in headers if n.lower() == "traceparent"]:
            del headers[name]
        for header, valid, fresh in (
            (IDEMPOTENCY_KEY_HEADER, is_valid_idempotency_key, self.new_key),
            (TRACE_ID_HEADER, is_valid_trace_id, self.new_trace),
        ):
            for name in [n for n in headers if n.lower() == header.lower()]:
                if isinstance(headers[name], str) and valid(headers[name]):
                    headers[name] = fresh()
        for name in [n for n in headers if n.lower() in {"x-test-run", "x-source"}]:
            del headers[name]
        headers.update(synthetic_headers(self.identity))


def fuzz_config(base_url: str, plan: FuzzPlan) -> SchemathesisConfig:
    """The schemathesis configuration: 428 for a missing required header, no auth drawing."""
    return SchemathesisConfig.from_dict(
        {
            "seed": plan.seed,
            "base-url": base_url,
            "generation": {"with-security-parameters": False, "max-examples": plan.max_examples},
            "checks": {
                MISSING_HEADER_CHECK: {"expected-statuses": list(MISSING_HEADER_STATUSES)},
            },
        }
    )


@dataclass(frozen=True)
class Finding:
    """One check failure: which check, on what call, what answer; judged or advisory."""

    check: str
    method: str
    path: str
    status: int | None
    title: str
    judged: bool

    def label(self) -> str:
        return f"{self.check}: {self.method} {self.path} -> {self.status} ({self.title})"


@dataclass
class FuzzResult:
    """What one app's fuzzing sent and found."""

    app_id: str
    operations: list[str] = field(default_factory=list)
    untested: list[str] = field(default_factory=list)
    calls: Counter[tuple[str, str, int | None]] = field(default_factory=Counter)
    findings: Counter[Finding] = field(default_factory=Counter)
    not_sent: Counter[str] = field(default_factory=Counter)

    @property
    def sent(self) -> int:
        return sum(self.calls.values())


def select_operations(document: Mapping[str, Any]) -> tuple[set[tuple[str, str]], list[str]]:
    """The (METHOD, path) pairs to fuzz, and the mutations left out with the reason."""
    covered: set[tuple[str, str]] = set()
    reads: set[tuple[str, str]] = set()
    outside: list[tuple[str, str]] = []
    for path, item in (document.get("paths") or {}).items():
        if not isinstance(item, Mapping):
            continue
        for method, operation in item.items():
            if not isinstance(operation, Mapping):
                continue
            verb = method.upper()
            if operation.get(RULES_EXTENSION) is True:
                covered.add((verb, path))
            elif verb == "GET":
                reads.add((verb, path))
            elif verb in {"POST", "PUT", "PATCH", "DELETE"}:
                outside.append((verb, path))
    untested = [
        f"{verb} {path}: {RULES_EXTENSION} is not true (outside §4); mutations outside the "
        "rules are not fuzzed"
        for verb, path in sorted(outside)
    ]
    return (covered or reads), untested


def is_judged(check: str, status: int | None, case: Case[Any]) -> bool:
    """Whether a failure of ``check`` fails HDR-06 (see module doc)."""
    if check in {MISSING_HEADER_CHECK, TRANSPORT_ERROR}:
        return True
    if check == CRASH_CHECK:
        return status not in DEPENDENCY_FAILURES
    if check == NEGATIVE_CHECK and case.meta is not None:
        meta = case.meta
        others = (ParameterLocation.BODY, ParameterLocation.QUERY, ParameterLocation.PATH)
        return meta.is_negative_at(ParameterLocation.HEADER) and not any(
            meta.is_negative_at(location) for location in others
        )
    return False


def _check_name(failure: Failure) -> str:
    names = type(failure).checks
    return names[0] if names else type(failure).__name__


def _header_value(value: Any) -> bytes:
    """HTTP/1.1 field bytes: schemathesis draws Latin-1 header values, as ``requests`` sends."""
    return str(value).encode("latin-1")


class _AppFuzzer:
    """Sends one app's generated cases through the harness client and collects findings."""

    def __init__(
        self,
        client: httpx.Client,
        result: FuzzResult,
        minter: HeaderMinter,
        auth: Mapping[str, str],
        plan: FuzzPlan,
    ) -> None:
        self.client = client
        self.result = result
        self.minter = minter
        self.auth = dict(auth)
        self.plan = plan
        self.body_coverage: Counter[str] = Counter()

    def _budgeted_out(self, case: Case[Any]) -> bool:
        data = case.meta.phase.data if case.meta is not None else None
        if not isinstance(data, CoveragePhaseData) or data.parameter_location not in (
            ParameterLocation.BODY,
            None,
        ):
            return False
        if data.parameter_location is None and case.body is None:
            return False  # method probes and the like
        label = case.operation.label
        self.body_coverage[label] += 1
        return self.body_coverage[label] > self.plan.body_coverage_per_operation

    def __call__(self, case: Case[Any]) -> None:
        """Hypothesis's test body: never raises on a finding (no shrinking, bounded calls)."""
        if self._budgeted_out(case):
            self.result.not_sent["body coverage case over the per-operation budget"] += 1
            return
        self.minter.mint(case.headers)
        kwargs = case.as_transport_kwargs()
        fields = dict(kwargs.get("headers") or {})
        if kwargs.get("cookies"):
            fields["Cookie"] = "; ".join(f"{k}={v}" for k, v in kwargs["cookies"].items())
        try:
            headers = [
                (name.encode("ascii"), _header_value(value))
                for name, value in {**fields, **self.auth}.items()
            ]
        except UnicodeEncodeError:
            self.result.not_sent["header not encodable as HTTP field bytes"] += 1
            return
        data = kwargs.get("data")
        method, path = case.method.upper(), case.operation.path
        try:
            response = self.client.request(
                method,
                kwargs["url"],
                params=kwargs.get("params"),
                headers=headers,
                json=kwargs.get("json"),
                content=data if isinstance(data, bytes | str) else None,
                data=data if isinstance(data, dict) else None,
                extensions={NO_TRACE_ID: True},
            )
        except httpx.LocalProtocolError:
            self.result.not_sent["request the HTTP client refuses to encode"] += 1
            return
        except httpx.HTTPError as error:
            self.result.calls[(method, path, None)] += 1
            finding = Finding(TRANSPORT_ERROR, method, path, None, type(error).__name__, True)
            self.result.findings[finding] += 1
            return
        self.result.calls[(method, path, response.status_code)] += 1
        try:
            case.validate_response(response, checks=list(CHECKS), headers=dict(case.headers))
        except FailureGroup as group:
            self._record(case, method, path, response.status_code, group.exceptions)
        except Failure as failure:
            self._record(case, method, path, response.status_code, (failure,))

    def _record(
        self, case: Case[Any], method: str, path: str, status: int, failures: Iterable[Failure]
    ) -> None:
        for failure in failures:
            check = _check_name(failure)
            judged = is_judged(check, status, case)
            self.result.findings[Finding(check, method, path, status, failure.title, judged)] += 1


def _operations(
    schema: Any, wanted: set[tuple[str, str]]
) -> list[APIOperation[Any, Any, Any, Any]]:
    operations: list[Operation] = []
    for item in schema.get_all_operations():
        operation = item.ok()
        if (operation.method.upper(), operation.path) in wanted:
            operations.append(operation)
    return sorted(operations, key=lambda op: (op.path, op.method))


def fuzz_app(
    client: httpx.Client,
    app_id: str,
    base_url: str,
    *,
    env: str,
    minter: HeaderMinter,
    auth: Mapping[str, str],
    plan: FuzzPlan = FuzzPlan(),
) -> FuzzResult:
    """Fuzz one app from its OpenAPI document (refused against ``prod_observe``)."""
    refuse_prod_observe(env)
    result = FuzzResult(app_id)
    try:
        document = client.get(base_url + "/openapi.json").json()
    except (httpx.HTTPError, ValueError) as error:
        result.untested.append(f"GET /openapi.json: no usable document ({type(error).__name__})")
        return result
    if not isinstance(document, dict):
        result.untested.append("GET /openapi.json: not a JSON object")
        return result
    wanted, result.untested = select_operations(document)
    schema = schemathesis.openapi.from_dict(document, config=fuzz_config(base_url, plan))
    fuzzer = _AppFuzzer(client, result, minter, auth, plan)
    settings = hypothesis.settings(
        max_examples=plan.max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    modes = [HypothesisTestMode.EXAMPLES, HypothesisTestMode.COVERAGE, HypothesisTestMode.FUZZING]
    for operation in _operations(schema, wanted):
        result.operations.append(f"{operation.method.upper()} {operation.path}")
        test = create_test(
            operation=operation,
            test_func=fuzzer,
            config=HypothesisTestConfig(
                project=schema.config, modes=modes, settings=settings, seed=plan.seed
            ),
        )
        test()
    return result


def fuzz_verdict(result: FuzzResult) -> Verdict:
    """HDR-06 for one app: judged findings are violations, the rest advisory details."""
    judged = [f for f in result.findings if f.judged]
    advisory = [f for f in result.findings if not f.judged]
    violations = [f"{f.label()} x{result.findings[f]}" for f in sorted(judged, key=_order)]
    return rule_verdict(
        RULE,
        result.app_id,
        cases=result.sent,
        violations=violations,
        untested=result.untested,
        details={
            "schemathesis": SCHEMATHESIS_VERSION,
            "operations": result.operations,
            "generated_calls": result.sent,
            "not_sent": dict(result.not_sent),
            "advisory": [
                f"{f.label()} x{result.findings[f]}" for f in sorted(advisory, key=_order)
            ],
            "requests": [record.to_dict() for record in request_summary(result)],
        },
    )


def _order(finding: Finding) -> tuple[str, str, str, int]:
    return (finding.path, finding.method, finding.check, finding.status or 0)


def request_summary(result: FuzzResult) -> list[RequestRecord]:
    """One line per (operation, status): how many generated calls got it, and the verdict."""
    judged: dict[tuple[str, str, int | None], list[str]] = {}
    for finding in result.findings:
        if finding.judged:
            judged.setdefault((finding.method, finding.path, finding.status), []).append(
                finding.check
            )
    rows = []
    for (method, path, status), count in sorted(result.calls.items(), key=_call_order):
        checks: Sequence[str] = sorted(set(judged.get((method, path, status), [])))
        rows.append(
            RequestRecord(
                app=result.app_id,
                method=method,
                path=path,
                sent=f"{count} schemathesis-generated call(s), fresh key and trace id each",
                status=status,
                result="ok" if not checks else "; ".join(checks),
            )
        )
    return rows


def _call_order(item: tuple[tuple[str, str, int | None], int]) -> tuple[str, str, int]:
    (method, path, status), _ = item
    return (path, method, status or 0)
