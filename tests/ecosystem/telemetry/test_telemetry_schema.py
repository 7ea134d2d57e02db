"""The §6 event schema: completeness, null defaults, and validation that lists every problem."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reftarget.telemetry import (
    ALLOWED_EVENTS,
    EVENT_FIELDS,
    EXTRA_EVENTS,
    FINANCE_EVENTS,
    HIGH_VOLUME_EVENTS,
    REQUIRED_EVENTS,
    EventError,
    make_event,
    validate_event,
)

from tests.ecosystem.telemetry.telemetry_testkit import event, finance

CONTRACT_ORDER = (
    "event",
    "timestamp",
    "app_id",
    "route",
    "status",
    "latency_ms",
    "p95_ms",
    "trace_id",
    "idempotency_key",
    "tenant_id",
    "finance_metrics",
    "revenue_event_id",
    "sample_rate",
    "tags",
    "event_id",
    "data",
)


def test_event_fields_are_the_contract_fields_in_order() -> None:
    assert EVENT_FIELDS == CONTRACT_ORDER


def test_event_name_sets_match_the_contract() -> None:
    assert len(REQUIRED_EVENTS) == 14
    assert {"run_progress", "orchestration_cycle_complete"} <= REQUIRED_EVENTS
    assert {"checkout_completed", "revenue_settled", "credit_decrement"} == FINANCE_EVENTS
    assert FINANCE_EVENTS <= REQUIRED_EVENTS
    assert {"http_request", "cta_impression"} == HIGH_VOLUME_EVENTS
    assert not set(EXTRA_EVENTS) & (REQUIRED_EVENTS | {"http_request"})
    assert REQUIRED_EVENTS | {"http_request"} | set(EXTRA_EVENTS) == ALLOWED_EVENTS


def test_make_event_has_every_field_and_null_defaults() -> None:
    made = make_event(event="identity_ok")
    assert tuple(made) == CONTRACT_ORDER
    assert made["event"] == "identity_ok"
    assert all(made[name] is None for name in CONTRACT_ORDER[1:])


def test_make_event_writes_timestamps_as_rfc3339_utc_with_z() -> None:
    moment = datetime(2026, 11, 26, 3, 0, 1, 234567, tzinfo=UTC)
    assert make_event(event="identity_ok", timestamp=moment)["timestamp"] == (
        "2026-11-26T03:00:01.234Z"
    )


def test_make_event_refuses_an_unknown_field_name() -> None:
    with pytest.raises(TypeError, match="trace"):
        make_event(event="identity_ok", trace="x")


def test_make_event_refuses_wrong_types_listing_each() -> None:
    with pytest.raises(EventError) as caught:
        make_event(event="identity_ok", status="200", trace_id="XYZ")
    assert [p.split(":")[0] for p in caught.value.problems] == ["status", "trace_id"]


def test_a_complete_event_is_valid() -> None:
    assert validate_event(event()) == []
    assert validate_event(event("http_request")) == []
    assert validate_event(finance("revenue_settled", revenue_event_id="rev_1")) == []


def test_validation_lists_every_problem_not_just_the_first() -> None:
    bad: dict[str, Any] = event()
    del bad["p95_ms"]  # missing field
    bad |= {
        "event": "page_viewed",  # unknown name
        "status": "ok",  # wrong type
        "trace_id": "0" * 32,  # all zeros
        "app_id": "A9",  # not A1..A8
        "tags": {"test_run": "yes", "env": "embedded", "colour": "red"},  # shape
        "extra": 1,  # unknown field
    }
    problems = validate_event(bad)
    for fragment in (
        "p95_ms: missing",
        "event: unknown event name",
        "status: must be an HTTP status",
        "trace_id: must not be all zeros",
        "app_id: must be one of A1..A8",
        "tags: source: missing",
        "tags: test_run: must be true or false",
        "tags: 'colour': unknown key",
        "'extra': unknown field",
    ):
        assert any(p.startswith(fragment) for p in problems), (fragment, problems)
    assert len(problems) == 9


@pytest.mark.parametrize(
    "trace_id",
    ["A" * 32, "a" * 31, "a" * 33, "g" * 32, "0" * 32, 12345],
    ids=["upper", "short", "long", "not-hex", "zeros", "number"],
)
def test_bad_trace_ids_are_refused(trace_id: object) -> None:
    problems = validate_event(event() | {"trace_id": trace_id})
    assert [p for p in problems if p.startswith("trace_id:")]


@pytest.mark.parametrize(
    "timestamp",
    ["2026-11-26T03:00:00+01:00", "2026-11-26 03:00:00Z", "2026-11-26", "yesterday"],
)
def test_timestamps_must_be_rfc3339_utc(timestamp: str) -> None:
    assert [p for p in validate_event(event() | {"timestamp": timestamp}) if "timestamp" in p]


def test_null_where_a_value_is_needed_is_a_problem() -> None:
    problems = validate_event(event("http_request") | {"status": None, "sample_rate": None})
    assert "status: required for http_request" in problems
    assert "sample_rate: must not be null" in problems


def test_every_event_needs_an_event_id() -> None:
    missing = event()
    del missing["event_id"]
    assert "event_id: missing (every field must be present; use null)" in validate_event(missing)
    assert "event_id: must not be null" in validate_event(event() | {"event_id": None})
    assert validate_event(event() | {"event_id": 7}) == ["event_id: expected a string, got int"]


def test_data_is_an_object_or_null() -> None:
    missing = event()
    del missing["data"]
    assert "data: missing (every field must be present; use null)" in validate_event(missing)
    assert validate_event(event() | {"data": None}) == []
    assert validate_event(event() | {"data": {"figure": 1}}) == []
    assert validate_event(event() | {"data": [1]}) == ["data: expected an object or null, got list"]


def test_bandit_config_needs_its_figures_in_data() -> None:
    figures = {"arm_weights": {"a": 0.6, "b": 0.4}, "exploration_rate": 0.4}
    assert validate_event(event("bandit_config", data=figures)) == []
    assert validate_event(event("bandit_config")) == [
        "data: arm_weights: required for bandit_config",
        "data: exploration_rate: required for bandit_config",
    ]
    partial = event("bandit_config", data={"arm_weights": figures["arm_weights"]})
    assert validate_event(partial) == ["data: exploration_rate: required for bandit_config"]


def test_revenue_settled_needs_its_revenue_event_id_and_finance_metrics() -> None:
    problems = validate_event(event("revenue_settled"))
    assert "finance_metrics: required for revenue_settled" in problems
    assert any(p.startswith("revenue_event_id: required") for p in problems)


def test_finance_metrics_must_have_every_section_7_key() -> None:
    metrics = finance()["finance_metrics"]
    del metrics["net_cents"]
    problems = validate_event(finance() | {"finance_metrics": metrics | {"gross_cents": 0.5}})
    assert "finance_metrics: net_cents: missing (use null)" in problems
    assert any(
        p.startswith("finance_metrics: gross_cents: must be integer cents") for p in problems
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from([*CONTRACT_ORDER, "x"]) | st.text(), children, max_size=6)
    ),
    max_leaves=20,
)


@settings(max_examples=80, database=None, deadline=None)
@given(json_values)
def test_validation_never_raises_on_any_json(value: object) -> None:
    assert isinstance(validate_event(value), list)
