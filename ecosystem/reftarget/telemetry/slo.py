"""SLO arithmetic over sampled ``http_request`` events (pure functions, no storage).

Each stored event stands for ``1 / sample_rate`` requests (Horvitz-Thompson), so 10
sampled-in successes at rate 0.1 estimate 100 requests, while errors (kept at 1.0) count
once each. ``samples`` is the raw count so that a reader can judge the estimate's
precision. With no samples, ``error_rate`` and ``p95_ms`` are ``None``: a zero there would
look healthy when nothing was measured.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

# Fixed edges (ms) of the cumulative latency histogram; 120 ms is the platform's p95 budget,
# so "requests slower than 120 ms" is one subtraction and a harness can bound p95 by counts.
LATENCY_BUCKETS_MS: Final[tuple[int, ...]] = (10, 25, 50, 100, 120, 200, 250, 500, 1000, 2000, 5000)
_REL_TOLERANCE: Final = 1e-9


def weighted_quantile(pairs: Sequence[tuple[float, float]], q: float) -> float | None:
    """The smallest value whose cumulative weight reaches ``q`` of the total.

    This is the inverted-CDF definition; unweighted it is the nearest-rank percentile
    (the ``ceil(q * n)``-th smallest), so it always returns an observed latency.
    """
    if not pairs:
        return None
    ordered = sorted(pairs)
    total = sum(weight for _, weight in ordered)
    target = q * total * (1 - _REL_TOLERANCE)
    cumulative = 0.0
    for value, weight in ordered:
        cumulative += weight
        if cumulative >= target:
            return value
    return ordered[-1][0]


def summarize(samples: Iterable[tuple[int, float, float]]) -> dict[str, Any]:
    """``(status, latency_ms, sample_rate)`` triples -> the SLO numbers of §6 (and a histogram)."""
    pairs: list[tuple[float, float]] = []
    requests = errors = 0.0
    error_samples = 0
    for status, latency_ms, rate in samples:
        weight = 1.0 / rate
        pairs.append((float(latency_ms), weight))
        requests += weight
        if status >= 500:
            errors += weight
            error_samples += 1
    p95 = weighted_quantile(pairs, 0.95)
    return {
        "requests": round(requests, 6),
        "errors": round(errors, 6),
        "samples": len(pairs),
        "error_samples": error_samples,
        "error_rate": (errors / requests) if pairs else None,
        "p95_ms": p95,
        "latency_histogram": _histogram(pairs),
    }


def _histogram(pairs: Sequence[tuple[float, float]]) -> list[dict[str, Any]]:
    """Cumulative buckets, Prometheus style: requests (weighted) and samples with latency <= le."""
    buckets: list[dict[str, Any]] = []
    for edge in (*LATENCY_BUCKETS_MS, None):
        inside = [w for v, w in pairs if edge is None or v <= edge]
        buckets.append({"le_ms": edge, "requests": round(sum(inside), 6), "samples": len(inside)})
    return buckets
