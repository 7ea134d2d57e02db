"""The contract's request-header rules (§4): trace ids and idempotency keys.

Pure functions over the raw ASGI header list, so duplicates are visible (a framework's
header mapping would silently pick one). Decisions recorded in docs/reference-target.md:

* ``X-Trace-Id`` must be 32 lowercase hex digits, not all zero. Present but malformed or
  sent twice → the request is malformed (400 on a mutation).
* A valid W3C ``traceparent`` supplies the trace id when ``X-Trace-Id`` is absent. An invalid
  one, or several ``traceparent`` fields, are ignored as W3C Trace Context requires, so a
  mutation that carries only an invalid ``traceparent`` has no usable trace id → 428 (TRC-27).
* Both valid and disagreeing → 400 (TRC-28).
* ``X-Idempotency-Key``: 1–255 visible ASCII characters (0x21–0x7E), no commas; sent twice,
  or contradicted by an IETF ``Idempotency-Key`` field → 400 (HDR-05). ``Idempotency-Key``
  alone does not replace it (428 names ``X-Idempotency-Key``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TRACE_ID_HEADER = "X-Trace-Id"
IDEMPOTENCY_KEY_HEADER = "X-Idempotency-Key"
IETF_IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
TRACEPARENT_HEADER = "traceparent"
MAX_IDEMPOTENCY_KEY_LENGTH = 255

_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_PARENT_ID = re.compile(r"[0-9a-f]{16}")
_HEX2 = re.compile(r"[0-9a-f]{2}")
_ZERO_TRACE_ID = "0" * 32
_ZERO_PARENT_ID = "0" * 16
_TRACEPARENT_V00_LENGTH = 55
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x2b\x2d-\x7e]{1,255}")  # visible ASCII minus ','

RawHeaders = Iterable[tuple[bytes, bytes]]


def header_values(headers: RawHeaders, name: str) -> list[str]:
    """Every value of a header field (case-insensitive name), in order, latin-1 decoded."""
    wanted = name.lower().encode("latin-1")
    return [value.decode("latin-1") for key, value in headers if key.lower() == wanted]


def is_valid_trace_id(value: str) -> bool:
    """32 lowercase hex digits, not all zero (the W3C trace-id format)."""
    return _TRACE_ID.fullmatch(value) is not None and value != _ZERO_TRACE_ID


def trace_id_from_traceparent(value: str) -> str | None:
    """The trace id of a valid W3C ``traceparent``, else ``None`` (invalid → ignored).

    Version 00 must be exactly 55 characters; a higher version may carry more fields after
    a ``-`` and is read forward-compatibly from the fixed positions; version ``ff`` is invalid.
    """
    if len(value) < _TRACEPARENT_V00_LENGTH:
        return None
    version = value[0:2]
    if _HEX2.fullmatch(version) is None or version == "ff":
        return None
    if version == "00" and len(value) != _TRACEPARENT_V00_LENGTH:
        return None
    if len(value) > _TRACEPARENT_V00_LENGTH and value[_TRACEPARENT_V00_LENGTH] != "-":
        return None
    if value[2] != "-" or value[35] != "-" or value[52] != "-":
        return None
    trace_id, parent_id, flags = value[3:35], value[36:52], value[53:55]
    if not is_valid_trace_id(trace_id):
        return None
    if _PARENT_ID.fullmatch(parent_id) is None or parent_id == _ZERO_PARENT_ID:
        return None
    if _HEX2.fullmatch(flags) is None:
        return None
    return trace_id


@dataclass(frozen=True)
class TraceHeaders:
    """What a request's trace headers amount to.

    ``trace_id`` is the usable id (or, on a conflict, the ``X-Trace-Id`` value so the
    error response can still echo what the client sent); ``problem`` is set when the
    headers make a mutation malformed (400).
    """

    trace_id: str | None
    problem: str | None = None


def resolve_trace_headers(headers: RawHeaders) -> TraceHeaders:
    """Apply the trace-id rules to a request's raw headers."""
    materialised = list(headers)
    explicit = header_values(materialised, TRACE_ID_HEADER)
    parents = header_values(materialised, TRACEPARENT_HEADER)
    from_parent = trace_id_from_traceparent(parents[0]) if len(parents) == 1 else None
    if len(explicit) > 1:
        return TraceHeaders(from_parent, f"{TRACE_ID_HEADER} was sent more than once")
    if not explicit:
        return TraceHeaders(from_parent)
    value = explicit[0]
    if not is_valid_trace_id(value):
        return TraceHeaders(
            from_parent,
            f"{TRACE_ID_HEADER} must be 32 lowercase hex digits, not all zero",
        )
    if from_parent is not None and from_parent != value:
        return TraceHeaders(
            value,
            f"{TRACE_ID_HEADER} and the trace id in {TRACEPARENT_HEADER} disagree",
        )
    return TraceHeaders(value)


@dataclass(frozen=True)
class IdempotencyKeyHeader:
    """The request's idempotency key (``None`` when absent) or why it is malformed."""

    key: str | None
    problem: str | None = None


def _unquote_sf_string(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def is_valid_idempotency_key(value: str) -> bool:
    """1–255 visible ASCII characters, no commas."""
    return _IDEMPOTENCY_KEY.fullmatch(value) is not None


def resolve_idempotency_key(headers: RawHeaders) -> IdempotencyKeyHeader:
    """Apply the idempotency-key rules to a request's raw headers."""
    materialised = list(headers)
    keys = header_values(materialised, IDEMPOTENCY_KEY_HEADER)
    ietf = [_unquote_sf_string(v) for v in header_values(materialised, IETF_IDEMPOTENCY_KEY_HEADER)]
    if len(keys) > 1:
        return IdempotencyKeyHeader(None, f"{IDEMPOTENCY_KEY_HEADER} was sent more than once")
    if not keys:
        return IdempotencyKeyHeader(None)
    key = keys[0]
    if not is_valid_idempotency_key(key):
        return IdempotencyKeyHeader(
            None,
            f"{IDEMPOTENCY_KEY_HEADER} must be 1-{MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII "
            "characters without commas",
        )
    if any(other != key for other in ietf):
        return IdempotencyKeyHeader(
            None,
            f"{IETF_IDEMPOTENCY_KEY_HEADER} contradicts {IDEMPOTENCY_KEY_HEADER}; send one key",
        )
    return IdempotencyKeyHeader(key)
