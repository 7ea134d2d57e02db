"""Trace ids, idempotency keys and the telemetry sampling rule, as the harness sees them.

The harness stamps every request it sends with a fresh W3C trace id (32 lowercase hex
digits, never all zero). Because A8 samples by trace id (contract §6, OpenTelemetry's
``TraceIdRatioBased``: keep when the low 64 bits, read as an unsigned integer, are below
``rate × 2^64``), knowing a probe's trace id is knowing whether A8 must hold its events:
that is how the harness proves telemetry sees its traffic before trusting A8's numbers.

This is the harness's own copy of the contract rule, not the reference target's: the
harness must judge any implementation of the contract, so it shares no code with one.

The threshold is exact, with the rate read as the decimal it is written as (0.1 is 1/10,
not its binary approximation): keep iff ``low64 < ceil(rate × 2^64)``. At 0.1 this keeps
102 fewer ids out of 2^64 than OpenTelemetry's SDK, which rounds ``float(rate) × 2^64``;
immaterial in traffic, but the boundary is reproducible in any language with big integers.
"""

from __future__ import annotations

import math
import random
import re
import secrets
import uuid
from fractions import Fraction
from functools import lru_cache
from typing import Final

TRACE_ID_HEADER: Final = "X-Trace-Id"
IDEMPOTENCY_KEY_HEADER: Final = "X-Idempotency-Key"

HIGH_VOLUME_RATE: Final = 0.1
FULL_RATE: Final = 1.0
FINANCE_EVENTS: Final = frozenset({"checkout_completed", "revenue_settled", "credit_decrement"})
HIGH_VOLUME_EVENTS: Final = frozenset({"http_request", "cta_impression"})

_SPAN: Final = 2**64
_ZERO_TRACE_ID: Final = "0" * 32
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x2b\x2d-\x7e]{1,255}")  # visible ASCII minus ','


def new_trace_id(rng: random.Random | None = None) -> str:
    """A fresh trace id: 128 random bits as 32 lowercase hex digits, never all zero.

    ``rng`` makes a sequence reproducible (tests, seeded simulations); without it the
    bits come from :mod:`secrets`, so two harness processes never collide by seeding.
    """
    while True:
        bits = rng.getrandbits(128) if rng is not None else secrets.randbits(128)
        if bits:
            return f"{bits:032x}"


def is_valid_trace_id(value: str) -> bool:
    """32 lowercase hex digits, not all zero (the W3C trace-id format, contract §4)."""
    return _TRACE_ID.fullmatch(value) is not None and value != _ZERO_TRACE_ID


def low64(trace_id: str) -> int:
    """The trace id's low 64 bits (its last 16 hex digits) as an unsigned integer."""
    if not is_valid_trace_id(trace_id):
        raise ValueError(f"not a W3C trace id: {trace_id[:40]!r}")
    return int(trace_id[16:], 16)


@lru_cache(maxsize=64)
def sampling_threshold(rate: float) -> int:
    """The exclusive upper bound on ``low64`` for ``rate``: ``ceil(rate × 2^64)``."""
    if not (math.isfinite(rate) and 0.0 <= rate <= 1.0):
        raise ValueError(f"a sampling rate is within [0, 1], got {rate!r}")
    exact = Fraction(str(rate)) * _SPAN
    return math.ceil(exact)


def new_sampled_in_trace_id(rate: float, rng: random.Random | None = None) -> str:
    """A fresh trace id that the contract's sampler keeps at ``rate``.

    The high 64 bits stay uniformly random; the low 64 are drawn below the sampling
    threshold. The harness tags its probes this way so that A8 must hold every one of
    them: completeness is then checkable probe by probe, and A8's source gets the same n
    as the probes (the sampling decision depends on the trace id only, never on outcome).
    """
    threshold = sampling_threshold(rate)
    if threshold == 0:
        raise ValueError("no trace id is sampled in at rate 0")
    while True:
        high = rng.getrandbits(64) if rng is not None else secrets.randbits(64)
        low = rng.randrange(threshold) if rng is not None else secrets.randbelow(threshold)
        if high or low:
            return f"{high:016x}{low:016x}"


def is_sampled_in(trace_id: str, rate: float) -> bool:
    """Whether A8 keeps the events of this trace at ``rate`` (contract §6).

    Raises ``ValueError`` for a malformed trace id or a rate outside [0, 1].
    """
    return low64(trace_id) < sampling_threshold(rate)


def sample_rate_for(event: str, status: int | None) -> float:
    """The probability with which A8 keeps an event (contract §6).

    Errors (status ≥ 500) and finance events: 1.0. High-volume *successes*
    (``http_request``, ``cta_impression`` with no status or a status below 400): 0.1.
    Everything else: 1.0, including a 4xx ``http_request``, which §6 calls neither an
    error nor a success (it falls under "everything else").
    """
    if status is not None and status >= 500:
        return FULL_RATE
    if event in FINANCE_EVENTS:
        return FULL_RATE
    if event in HIGH_VOLUME_EVENTS and (status is None or status < 400):
        return HIGH_VOLUME_RATE
    return FULL_RATE


def new_idempotency_key() -> str:
    """A fresh ``X-Idempotency-Key``: ``qa-`` and a random UUID (visible ASCII, no commas).

    The prefix lets an operator tell the harness's keys from real clients' in logs.
    """
    return f"qa-{uuid.uuid4()}"


def is_valid_idempotency_key(value: str) -> bool:
    """1–255 visible ASCII characters and no comma (contract §4)."""
    return _IDEMPOTENCY_KEY.fullmatch(value) is not None
