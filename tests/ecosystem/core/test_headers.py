"""The header rules as pure functions (contract §4, W3C Trace Context)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from reftarget.core.headers import (
    is_valid_idempotency_key,
    is_valid_trace_id,
    resolve_idempotency_key,
    resolve_trace_headers,
    trace_id_from_traceparent,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
VALID_PARENT_HEADER = f"00-{TRACE}-{PARENT}-01"


def raw(*pairs: tuple[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode(), v.encode()) for k, v in pairs]


@given(
    st.text(alphabet="0123456789abcdef", min_size=32, max_size=32).filter(lambda s: s != "0" * 32)
)
def test_any_32_lowercase_hex_not_all_zero_is_a_trace_id(value: str) -> None:
    assert is_valid_trace_id(value)


@pytest.mark.parametrize(
    "value",
    ["0" * 32, TRACE.upper(), TRACE[:31], TRACE + "0", "g" * 32, f" {TRACE[1:]}", ""],
)
def test_malformed_trace_ids_are_refused(value: str) -> None:
    assert not is_valid_trace_id(value)


def test_a_valid_traceparent_yields_its_trace_id() -> None:
    assert trace_id_from_traceparent(VALID_PARENT_HEADER) == TRACE


def test_a_future_version_with_extra_fields_is_read_forward_compatibly() -> None:
    assert trace_id_from_traceparent(f"cc-{TRACE}-{PARENT}-01-what-the-future-holds") == TRACE


@pytest.mark.parametrize(
    "value",
    [
        f"ff-{TRACE}-{PARENT}-01",  # forbidden version
        f"00-{TRACE}-{PARENT}-01-extra",  # version 00 must be exactly 55 characters
        f"00-{TRACE.upper()}-{PARENT}-01",  # uppercase
        f"00-{'0' * 32}-{PARENT}-01",  # all-zero trace id
        f"00-{TRACE}-{'0' * 16}-01",  # all-zero parent id
        f"00-{TRACE[:-1]}-{PARENT}-01",  # short trace id
        f"00-{TRACE}-{PARENT}-0",  # short flags
        f"00_{TRACE}_{PARENT}_01",  # wrong separators
        f"0x-{TRACE}-{PARENT}-01",  # illegal version characters
        f"cc-{TRACE}-{PARENT}-01.extra",  # a future version's extra part must start with '-'
    ],
)
def test_invalid_traceparents_are_ignored(value: str) -> None:
    assert trace_id_from_traceparent(value) is None


def test_traceparent_supplies_the_trace_id_when_x_trace_id_is_absent() -> None:
    assert resolve_trace_headers(raw(("traceparent", VALID_PARENT_HEADER))).trace_id == TRACE


def test_agreeing_headers_are_fine() -> None:
    resolved = resolve_trace_headers(
        raw(("X-Trace-Id", TRACE), ("traceparent", VALID_PARENT_HEADER))
    )
    assert resolved == resolved.__class__(TRACE, None)


def test_disagreeing_headers_are_a_problem_and_x_trace_id_is_echoed() -> None:
    other = "a" * 32
    resolved = resolve_trace_headers(
        raw(("X-Trace-Id", other), ("traceparent", VALID_PARENT_HEADER))
    )
    assert resolved.trace_id == other
    assert resolved.problem is not None
    assert "disagree" in resolved.problem


def test_a_duplicate_x_trace_id_is_a_problem() -> None:
    assert resolve_trace_headers(raw(("X-Trace-Id", TRACE), ("X-Trace-Id", TRACE))).problem


def test_two_traceparents_are_ignored_as_w3c_says() -> None:
    resolved = resolve_trace_headers(
        raw(("traceparent", VALID_PARENT_HEADER), ("traceparent", VALID_PARENT_HEADER))
    )
    assert resolved == resolved.__class__(None, None)


def test_an_invalid_traceparent_next_to_a_valid_x_trace_id_is_ignored() -> None:
    resolved = resolve_trace_headers(raw(("X-Trace-Id", TRACE), ("traceparent", "garbage")))
    assert (resolved.trace_id, resolved.problem) == (TRACE, None)


@given(st.text(alphabet=[chr(c) for c in range(0x21, 0x7F) if c != 0x2C], min_size=1, max_size=255))
def test_visible_ascii_without_commas_up_to_255_is_a_key(value: str) -> None:
    assert is_valid_idempotency_key(value)


@pytest.mark.parametrize("value", ["", "a" * 256, "a,b", "a b", "tab\there", "é", "x\x7f"])
def test_malformed_idempotency_keys_are_refused(value: str) -> None:
    assert not is_valid_idempotency_key(value)


def test_a_duplicate_idempotency_key_header_is_a_problem() -> None:
    assert resolve_idempotency_key(
        raw(("X-Idempotency-Key", "a"), ("X-Idempotency-Key", "a"))
    ).problem


def test_an_ietf_key_that_contradicts_is_a_problem() -> None:
    resolved = resolve_idempotency_key(raw(("X-Idempotency-Key", "a"), ("Idempotency-Key", '"b"')))
    assert resolved.problem is not None


def test_an_ietf_key_that_agrees_is_fine() -> None:
    resolved = resolve_idempotency_key(raw(("X-Idempotency-Key", "a"), ("Idempotency-Key", '"a"')))
    assert (resolved.key, resolved.problem) == ("a", None)


def test_an_ietf_key_alone_is_not_a_key() -> None:
    assert resolve_idempotency_key(raw(("Idempotency-Key", "a"))).key is None
