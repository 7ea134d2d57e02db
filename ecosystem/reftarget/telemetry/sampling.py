"""Head sampling by trace id (contract §6), and the dropped-telemetry fault's selector.

Sampling follows OpenTelemetry's ``TraceIdRatioBased``: keep when the trace id's low 64
bits, read as an unsigned integer, are below ``rate * 2**64``. Because the decision is a
pure function of the trace id, every app keeps or drops a whole trace together, and anyone
who knows a trace id (the harness) knows whether A8 must hold its events.

The threshold is computed exactly with the rate read as the decimal it is written as
(0.1 is 1/10, not its binary approximation): keep iff ``low64 < ceil(rate * 2**64)``.
OpenTelemetry's SDK rounds ``float(rate) * 2**64`` instead, which at 0.1 keeps 102 more ids
out of 2**64; the difference is immaterial in traffic but makes the boundary exact and
reproducible in any language with big integers.
"""

from __future__ import annotations

import hashlib
import re
from fractions import Fraction
from functools import lru_cache
from typing import Final

from reftarget.telemetry.schema import FINANCE_EVENTS, HIGH_VOLUME_EVENTS

HIGH_VOLUME_RATE: Final = 0.1
FULL_RATE: Final = 1.0
_SPAN: Final = 2**64
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
# Personalisation for the fault hash: changing it would re-pick which traces a fault drops.
_FAULT_PERSON: Final = b"a8-drop-fault"


def sample_rate_for(event: str, status: int | None) -> float:
    """The probability with which an event is kept (§6).

    Errors (status >= 500) and finance events: 1.0. High-volume *successes*
    (``http_request``, ``cta_impression`` with no status or status < 400): 0.1.
    Everything else, including a 4xx ``http_request`` (neither an error nor a success in
    §6's words): 1.0, which also keeps every 401/428 the harness provokes visible.
    """
    if status is not None and status >= 500:
        return FULL_RATE
    if event in FINANCE_EVENTS:
        return FULL_RATE
    if event in HIGH_VOLUME_EVENTS and (status is None or status < 400):
        return HIGH_VOLUME_RATE
    return FULL_RATE


@lru_cache(maxsize=64)
def threshold(rate: float) -> int:
    """The exclusive upper bound on the 64-bit value for ``rate``: ``ceil(rate * 2**64)``."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be within [0, 1], got {rate!r}")
    exact = Fraction(str(rate)) * _SPAN
    return -((-exact.numerator) // exact.denominator)


def _check(trace_id: str) -> None:
    if not _TRACE_ID.match(trace_id) or trace_id == "0" * 32:
        raise ValueError(f"not a W3C trace id: {trace_id[:40]!r}")


def low64(trace_id: str) -> int:
    """The trace id's low 64 bits (its last 16 hex digits) as an unsigned integer."""
    _check(trace_id)
    return int(trace_id[16:], 16)


def is_sampled_in(trace_id: str, rate: float) -> bool:
    """Whether events of this trace are kept at ``rate``. Raises ``ValueError`` on a bad id."""
    return low64(trace_id) < threshold(rate)


def fault_hash(trace_id: str) -> int:
    """A uniform 64-bit value of the trace id that is independent of the sampling bits.

    BLAKE2b-64 (personalised) of the whole id rather than the raw high 64 bits: W3C only
    promises randomness in the low bits, and some tracers put a timestamp in the high ones
    (X-Ray style), which would make a fault drop whole time ranges instead of a fraction.
    """
    _check(trace_id)
    digest = hashlib.blake2b(trace_id.encode("ascii"), digest_size=8, person=_FAULT_PERSON)
    return int.from_bytes(digest.digest(), "big")


def is_dropped_by_fault(trace_id: str, fraction: float) -> bool:
    """Whether the dropped-telemetry fault at ``fraction`` drops this trace's events.

    Deterministic per trace, so a harness that knows the fraction knows exactly which
    non-finance events must be missing.
    """
    return fraction > 0.0 and fault_hash(trace_id) < threshold(fraction)
