"""The telemetry judges (TEL-01..03) on fake events and a fake A8: each one FAILs, naming
its rule, on the breach it looks for, and PASSes a clean answer."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from secondconf.checks.telemetry.dedupe import DedupeCase, check_dedupe, judge_dedupe
from secondconf.checks.telemetry.sampling import (
    SamplingProbe,
    judge_sampling,
    new_sampled_out_trace_id,
    sampling_problem,
)
from secondconf.checks.telemetry.schema import judge_schema, schema_problems
from secondconf.checks.telemetry.window import read_window
from secondconf.contract.events import REQUIRED_EVENTS, SCHEMA_FIELDS
from secondconf.contract.traceids import FINANCE_EVENTS, is_sampled_in, new_sampled_in_trace_id
from secondconf.core.clock import SystemClock
from secondconf.core.secret import Secret
from secondconf.engine.evidence import RequestRecord
from secondconf.engine.verdict import Outcome, Reason
from secondconf.target.a8 import A8Client, TelemetryError

from tests.plugin.system_maps import system_map_at

IN = new_sampled_in_trace_id(0.1)
OUT = new_sampled_out_trace_id(0.1)
FINANCE = {
    "currency": "usd",
    "gross_cents": 50,
    "fee_rate": None,
    "fee_cents": 0,
    "cost_cents": 12,
    "markup": "4",
    "billed_cents": 48,
    "net_cents": 50,
    "stripe_object_id": "pi_1",
}
EVENT_IDS = (f"ev-{n}" for n in itertools.count())


def event(name: str = "page_published", **fields: Any) -> dict[str, Any]:
    """A complete, valid stored event (plus A8's received_at); ``fields`` override."""
    base: dict[str, Any] = {
        "event": name,
        "timestamp": "2026-11-26T03:00:00.123Z",
        "app_id": "A7",
        "route": "/v1/pages/{page_id}/publish",
        "status": 200,
        "latency_ms": 4.2,
        "p95_ms": 9.0,
        "trace_id": IN,
        "idempotency_key": "qa-1",
        "tenant_id": "t1",
        "finance_metrics": FINANCE if name in FINANCE_EVENTS else None,
        "revenue_event_id": "rev_1" if name == "revenue_settled" else None,
        "sample_rate": 0.1 if name in ("http_request", "cta_impression") else 1.0,
        "tags": {"test_run": True, "source": "qa", "env": "embedded"},
        "event_id": next(EVENT_IDS),
        "data": None,
        "received_at": "2026-11-26T03:00:00.200Z",
    }
    return base | fields


def every_required() -> list[dict[str, Any]]:
    return [event(name) for name in REQUIRED_EVENTS]


# -- TEL-01 ---------------------------------------------------------------------------


def test_the_schema_has_section_6s_fields_and_its_two_more() -> None:
    assert len(SCHEMA_FIELDS) == 16
    assert SCHEMA_FIELDS[-2:] == ("event_id", "data")


def test_a_complete_event_keeps_the_schema() -> None:
    assert schema_problems(event()) == []
    assert schema_problems(event("bandit_config", data={"arm_weights": {}})) == []
    assert schema_problems(event("revenue_settled")) == []
    nulls = {f: None for f in ("route", "status", "latency_ms", "p95_ms", "idempotency_key")}
    assert (
        schema_problems(event("page_published", **nulls, tenant_id=None)) == []
    )  # null where it does not apply


@pytest.mark.parametrize("name", SCHEMA_FIELDS)
def test_an_absent_field_is_named(name: str) -> None:
    broken = event()
    del broken[name]
    assert f"{name}: absent" in schema_problems(broken)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"timestamp": "2026-11-26T05:00:00+02:00"}, "timestamp: not an RFC 3339 UTC"),
        ({"timestamp": "2026-13-26T03:00:00Z"}, "timestamp: not a valid date"),
        ({"trace_id": IN.upper()}, "trace_id: not 32 lowercase hex"),
        ({"trace_id": None}, "trace_id: not 32 lowercase hex"),
        ({"app_id": "A9"}, "app_id: not one of A1..A8"),
        ({"status": "200"}, "status: not an HTTP status"),
        ({"status": True}, "status: not an HTTP status"),
        ({"latency_ms": -1}, "latency_ms: not a number of milliseconds"),
        ({"sample_rate": 0.5}, "sample_rate: not 1.0 or 0.1"),
        ({"tags": {"test_run": "true", "source": "qa", "env": "embedded"}}, "tags.test_run"),
        ({"tags": {"test_run": True, "env": "embedded"}}, "tags.source: absent"),
        ({"finance_metrics": {"currency": "usd"}}, "finance_metrics.gross_cents: absent"),
        ({"finance_metrics": FINANCE | {"fee_cents": 1.5}}, "finance_metrics.fee_cents"),
        ({"route": "v1/pages"}, "route: not a route template"),
        ({"event_id": None}, "event_id: not a non-empty string"),
        ({"event_id": 7}, "event_id: not a non-empty string"),
        ({"data": [1, 2]}, "data: not an object (list)"),
        ({"data": "figures"}, "data: not an object (str)"),
    ],
)
def test_a_wrong_type_is_named(change: dict[str, Any], expected: str) -> None:
    problems = schema_problems(event(**change))
    assert any(p.startswith(expected) for p in problems), problems


def test_money_events_need_their_money_fields() -> None:
    assert "finance_metrics: null on a finance event (checkout_completed)" in schema_problems(
        event("checkout_completed", finance_metrics=None)
    )
    assert "revenue_event_id: null on revenue_settled (§7)" in schema_problems(
        event("revenue_settled", revenue_event_id=None)
    )


def test_every_required_event_complete_passes() -> None:
    verdict = judge_schema([*every_required(), event("http_request"), event("provider_billed")])
    assert (verdict.outcome, verdict.reason) == (Outcome.PASS, Reason.CHECK_PASSED)
    assert verdict.check.startswith("TEL-01")
    assert verdict.details["names_beyond_contract"] == ["provider_billed"]


def test_a_missing_required_event_fails_naming_it() -> None:
    events = [e for e in every_required() if e["event"] != "cta_emitted"]
    verdict = judge_schema(events)
    assert verdict.outcome is Outcome.FAIL
    assert verdict.details["violations"] == ["cta_emitted: no such event in A8 (§6 requires it)"]
    assert verdict.details["required_names"]["cta_emitted"] == "absent"


def test_a_required_event_held_from_before_the_window_still_appears() -> None:
    events = [e for e in every_required() if e["event"] != "provider_registered"]
    verdict = judge_schema(events, frozenset({"provider_registered"}))
    assert verdict.outcome is Outcome.PASS
    assert verdict.details["required_names"]["provider_registered"] == "before the window"


@pytest.mark.parametrize("field", ["event_id", "data"])
def test_events_without_an_event_id_or_data_fail(field: str) -> None:
    lacking = [{k: v for k, v in e.items() if k != field} for e in every_required()]
    verdict = judge_schema(lacking)
    assert verdict.outcome is Outcome.FAIL
    assert len(verdict.details["violations"]) == len(REQUIRED_EVENTS)
    assert all(v.startswith(f"{field}: absent in 1 of 1 ") for v in verdict.details["violations"])


def test_one_broken_emitter_is_one_violation_with_its_count() -> None:
    lost = [{k: v for k, v in event("http_request").items() if k != "p95_ms"}] * 500
    verdict = judge_schema([*every_required(), *lost])
    assert verdict.outcome is Outcome.FAIL
    [violation] = verdict.details["violations"]
    assert violation.startswith("p95_ms: absent in 500 of 500 http_request event(s) (e.g. A7")
    assert verdict.n == 2 * len(REQUIRED_EVENTS) + 500  # the names, then every event


# -- TEL-02 ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"event": "http_request", "status": 200, "sample_rate": 0.1}, None),
        ({"event": "http_request", "status": 200, "sample_rate": 1.0}, "sample_rate 1.0 where"),
        ({"event": "http_request", "status": 404, "sample_rate": 1.0}, None),
        ({"event": "http_request", "status": 503, "sample_rate": 0.1}, "sample_rate 0.1 where"),
        ({"event": "cta_impression", "status": 201, "sample_rate": 0.1}, None),
        ({"event": "checkout_completed", "status": 200, "sample_rate": 0.1}, "sample_rate 0.1"),
        ({"event": "page_published", "status": None, "sample_rate": 1.0}, None),
        (
            {"event": "http_request", "status": 200, "sample_rate": 0.1, "trace_id": OUT},
            "kept at 0.1 although its trace id is sampled out",
        ),
    ],
)
def test_each_events_rate_follows_its_name_and_status(
    fields: dict[str, Any], problem: str | None
) -> None:
    found = sampling_problem(event(**fields))
    assert found == problem if problem is None else (found or "").startswith(problem)


def test_sampled_out_trace_ids_are_sampled_out() -> None:
    assert not any(is_sampled_in(new_sampled_out_trace_id(0.1), 0.1) for _ in range(200))


def probe(trace: str, held: int, status: int | None = 200) -> SamplingProbe:
    return SamplingProbe("A3", "/health", trace, status, held)


def test_probes_held_exactly_when_sampled_in_pass() -> None:
    verdict = judge_sampling(every_required(), [probe(IN, 1), probe(OUT, 0)])
    assert verdict.outcome is Outcome.PASS
    assert verdict.check.startswith("TEL-02")


def test_a_sampled_in_probe_missing_from_a8_fails() -> None:
    verdict = judge_sampling([], [probe(IN, 0), probe(OUT, 0)])
    assert verdict.outcome is Outcome.FAIL
    [violation] = verdict.details["violations"]
    assert f"A3 GET /health trace {IN[:12]}…: sampled in, yet A8 holds no" in violation


def test_a_sampled_out_probe_held_by_a8_fails_unless_it_was_an_error() -> None:
    assert judge_sampling([], [probe(OUT, 1)]).outcome is Outcome.FAIL
    assert judge_sampling([], [probe(OUT, 1, status=503)]).outcome is Outcome.PASS


def test_unanswered_probes_are_untested_not_passed() -> None:
    verdict = judge_sampling([], [probe(IN, 0, status=None)])
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert verdict.details["untested"] == [f"A3 GET /health trace {IN[:12]}…: no answer"]


def test_a_stored_event_at_the_wrong_rate_fails() -> None:
    verdict = judge_sampling([event("http_request", sample_rate=1.0)], [probe(IN, 1)])
    assert verdict.outcome is Outcome.FAIL
    assert verdict.details["violations"][0].startswith("sample_rate 1.0 where §6 says 0.1 in 1")


# -- TEL-03 ---------------------------------------------------------------------------


def test_dedupe_cases_judge_by_count() -> None:
    clean = judge_dedupe([DedupeCase("twice", 1, 1), DedupeCase("other trace", 1, 1)])
    assert clean.outcome is Outcome.PASS
    assert clean.check.startswith("TEL-03")
    failed = judge_dedupe([DedupeCase("twice", 1, 2)])
    assert failed.details["violations"] == ["twice: A8 stored 2, §6 says 1"]
    assert judge_dedupe([DedupeCase("twice", 1, None)]).outcome is Outcome.INCONCLUSIVE


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class FakeA8:
    """A8's ingest and event search in memory; ``key`` decides what a duplicate is."""

    def __init__(self, key: Callable[[dict[str, Any]], Any], limit_cap: int = 10_000) -> None:
        self.key = key
        self.limit_cap = limit_cap
        self.events: list[dict[str, Any]] = []
        self.seen: set[Any] = set()

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            for item in json.loads(request.content):
                if self.key(item) not in self.seen:
                    self.seen.add(self.key(item))
                    self.events.append(item)
            return httpx.Response(200, json={"generated_at": "x"})
        params = request.url.params
        found = [
            e
            for e in self.events
            if all(e[f] == params[f] for f in ("trace_id", "event", "app_id") if f in params)
            and ("since" not in params or moment(e["timestamp"]) >= moment(params["since"]))
            and ("until" not in params or moment(e["timestamp"]) <= moment(params["until"]))
        ]
        limit = min(int(params.get("limit", "1000")), self.limit_cap)
        return httpx.Response(200, json={"events": found[:limit], "truncated": len(found) > limit})

    def client(self) -> A8Client:
        http = httpx.AsyncClient(transport=httpx.MockTransport(self.handler))
        a8_map = system_map_at({"A8": "https://a8.test"})
        return A8Client(http, a8_map, Secret("A8_TELEMETRY_KEY", "not-a-real-key"))


def dedupe_on(fields: tuple[str, ...]) -> Callable[[dict[str, Any]], Any]:
    return lambda item: tuple(item[f] for f in fields)


def section_6_dedupe(item: dict[str, Any]) -> Any:
    """§6: (event, app, key, trace) when the event has a key, else its event_id."""
    if item["idempotency_key"] is None:
        return item["event_id"]
    return (item["event"], item["app_id"], item["idempotency_key"], item["trace_id"])


def run_dedupe(a8: FakeA8) -> Any:
    return asyncio.run(
        check_dedupe(
            a8.client(), "embedded", SystemClock(), deadline_s=1.0, synthetic={"X-Source": "qa"}
        )
    )


def test_a8_deduping_as_section_6_says_passes_without_clock_control() -> None:
    verdict = run_dedupe(FakeA8(section_6_dedupe))
    assert verdict.outcome is Outcome.PASS
    assert [c["stored"] for c in verdict.details["cases"]] == [1, 1, 1, 1, 1]
    assert verdict.details["untested"] == [
        "the same event, app, key and trace after 15 minutes: the target offers no clock control"
    ]
    sent = [r for r in verdict.details["requests"] if r["method"] == "POST"]
    assert [r["status"] for r in sent] == [200] * 9  # eight copies and the marker
    assert "A8, key qa-" in sent[0]["sent"]
    assert "A4, key none" in sent[7]["sent"]
    first = RequestRecord.from_dict(sent[0])
    assert first.trace_id is not None
    assert first.idempotency_key is not None
    assert f"key {first.idempotency_key}" in first.sent


def test_a8_storing_every_copy_fails() -> None:
    verdict = run_dedupe(FakeA8(lambda item: id(item)))
    assert verdict.outcome is Outcome.FAIL
    assert verdict.details["violations"] == [
        "the same event, app, key and trace sent three times: A8 stored 3, §6 says 1",
        "an event without a key re-sent with its event_id: A8 stored 2, §6 says 1",
    ]


def test_a8_deduping_without_the_trace_id_fails() -> None:
    verdict = run_dedupe(FakeA8(dedupe_on(("event", "idempotency_key"))))
    assert verdict.details["violations"] == [
        "the same event and key with another trace id: A8 stored 0, §6 says 1",
        "the same event, key and trace from another app: A8 stored 0, §6 says 1",
        "the same trace from another app, without a key: A8 stored 0, §6 says 1",
    ]


def test_a8_deduping_by_event_key_and_trace_alone_fails_across_apps() -> None:
    # The rule before the contract named app_id: one trace crossing two apps loses an event.
    verdict = run_dedupe(FakeA8(dedupe_on(("event", "idempotency_key", "trace_id"))))
    assert verdict.outcome is Outcome.FAIL
    assert verdict.details["violations"] == [
        "the same event, key and trace from another app: A8 stored 0, §6 says 1",
        "the same trace from another app, without a key: A8 stored 0, §6 says 1",
    ]


def test_the_synthetic_events_are_labelled_and_valid() -> None:
    a8 = FakeA8(section_6_dedupe)
    run_dedupe(a8)
    for stored in a8.events:
        assert schema_problems(stored) == []
        assert sampling_problem(stored) is None
        assert stored["tags"] == {"test_run": True, "source": "qa", "env": "embedded"}
        assert stored["route"].startswith("/_qa/")


def test_a_window_larger_than_a8_answers_is_read_in_halves() -> None:
    a8 = FakeA8(lambda item: id(item), limit_cap=10)
    start = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    stamps = [start + timedelta(seconds=i) for i in range(35)]
    a8.events = [event(timestamp=s.isoformat().replace("+00:00", "Z")) for s in stamps]
    window = asyncio.run(read_window(a8.client(), start, stamps[-1]))
    assert len(window.events) == 35
    assert window.untested == []
    assert len(window.requests) > 1
    # every read is recorded, with how many events it returned
    assert all((r.app, r.method, r.path) == ("A8", "GET", "/v1/events") for r in window.requests)
    assert all(r.note is not None and r.note.endswith(" events") for r in window.requests)


def test_events_reads_every_event_of_a_range_a8_answers_in_pieces() -> None:
    # A8 cutting its answer at 10 must not make a check see 10 of 35 events (the staging
    # window's completeness read the first 1,000 of ~7,200 probes' events and FAILed).
    a8 = FakeA8(lambda item: id(item), limit_cap=10)
    start = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    stamps = [start + timedelta(seconds=i) for i in range(35)]
    a8.events = [event(timestamp=s.isoformat().replace("+00:00", "Z")) for s in stamps]
    stored = asyncio.run(a8.client().events(app_id="A7", since=start, until=stamps[-1]))
    assert sorted(e.timestamp for e in stored) == stamps


def test_events_cut_short_with_no_range_to_split_is_an_error_not_a_short_list() -> None:
    a8 = FakeA8(lambda item: id(item), limit_cap=10)
    start = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    a8.events = [
        event(timestamp=(start + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"))
        for i in range(11)
    ]
    with pytest.raises(TelemetryError, match="cut its answer short for the whole query"):
        asyncio.run(a8.client().events(app_id="A7"))
    # eleven events in one microsecond cannot be split either
    a8.events = [event(timestamp="2026-11-26T03:00:00Z") for _ in range(11)]
    with pytest.raises(TelemetryError, match="cannot be split further"):
        asyncio.run(a8.client().events(since=start, until=start + timedelta(seconds=1)))
