"""Fixed-n confidence bounds for proportions and quantiles.

Each check in the harness is a one-sided test with three outcomes: PASS when a confidence
bound clears the threshold, FAIL when the opposite bound is past it, INCONCLUSIVE otherwise.
This module supplies those bounds for a *single, pre-declared look* at the data. Evaluating
them repeatedly while data arrives inflates the error rate; use :mod:`secondconf.engine.sequential`
for that.

Everything is built on ``scipy.stats`` distributions (``beta``, ``binom``, ``norm``); there are
no hand-written inverse distribution functions here.

Conventions:

* ``confidence`` is the coverage of the interval or bound, e.g. ``0.95``.
* A two-sided interval at 95 % is a pair of one-sided 97.5 % bounds; the one-sided functions
  say which side they mean.
* ``n == 0`` carries no information, so the bounds are the whole range ``[0, 1]``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

__all__ = [
    "Method",
    "QuantileVerdict",
    "Side",
    "clopper_pearson_bound",
    "clopper_pearson_interval",
    "max_slow_for_pass",
    "min_samples",
    "min_slow_for_fail",
    "proportion_bounds",
    "quantile_bound_indices",
    "quantile_lower_bound",
    "quantile_min_samples",
    "quantile_upper_bound",
    "quantile_verdict_from_counts",
    "wilson_bound",
    "wilson_interval",
]

Side = Literal["upper", "lower"]
Method = Literal["wilson", "exact"]
QuantileVerdict = Literal["PASS", "FAIL", "INCONCLUSIVE"]


# --------------------------------------------------------------------------- validation


def _check_counts(successes: int, n: int, *, name: str = "successes") -> tuple[int, int]:
    # operator.index accepts int and numpy integers, and rejects floats such as 3.0 or nan.
    successes, n = operator.index(successes), operator.index(n)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"{name} must be between 0 and n={n}, got {successes}")
    return successes, n


def _check_probability(value: float, name: str) -> float:
    if not 0.0 < value < 1.0:  # also rejects nan
        raise ValueError(f"{name} must be strictly between 0 and 1, got {value!r}")
    return float(value)


def _check_decision_confidence(confidence: float) -> float:
    # Below 0.5 an "upper" bound can sit below the "lower" one, and a verdict could be
    # PASS and FAIL at once. No gate means that, so refuse it.
    if not 0.5 <= confidence < 1.0:
        raise ValueError(f"confidence for a decision must be in [0.5, 1), got {confidence!r}")
    return float(confidence)


def _check_method(method: str) -> None:
    if method not in ("wilson", "exact"):
        raise ValueError(f"method must be 'wilson' or 'exact', got {method!r}")


def _check_side(side: str) -> None:
    if side not in ("upper", "lower"):
        raise ValueError(f"side must be 'upper' or 'lower', got {side!r}")


# --------------------------------------------------------------------------- Wilson


@lru_cache(maxsize=64)
def _z(upper_tail: float) -> float:
    # Scalar scipy.stats calls cost ~0.1 ms each; searches reuse the same few confidences.
    from scipy.stats import norm  # imported on first use: loading the plugin stays light

    return float(norm.isf(upper_tail))


def _wilson_limit(successes: int, n: int, z: float) -> float:
    """One root of the Wilson score equation: ``+z`` gives the upper, ``-z`` the lower limit.

    At k = 0 the lower root is exactly 0 and at k = n the upper root is exactly 1; the
    closed form only approximates those through rounding, so they are set exactly.
    """
    if successes == 0 and z <= 0:
        return 0.0
    if successes == n and z >= 0:
        return 1.0
    p_hat = successes / n
    z2 = z * z
    centre = p_hat + z2 / (2 * n)
    spread = z * math.sqrt(p_hat * (1 - p_hat) / n + z2 / (4 * n * n))
    return min(1.0, max(0.0, (centre + spread) / (1 + z2 / n)))


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Two-sided Wilson score interval for a binomial proportion.

    Good coverage at small n and near 0 or 1, where the Wald interval breaks down
    (Brown, Cai & DasGupta 2001). Each limit is a one-sided ``(1 + confidence) / 2`` bound.

    Returns ``(low, high)``; ``(0.0, 1.0)`` when ``n == 0``. ``low`` is exactly 0 at
    ``successes == 0`` and ``high`` exactly 1 at ``successes == n``.
    """
    successes, n = _check_counts(successes, n)
    confidence = _check_probability(confidence, "confidence")
    if n == 0:
        return 0.0, 1.0
    z = _z((1 - confidence) / 2)
    return _wilson_limit(successes, n, -z), _wilson_limit(successes, n, z)


def wilson_bound(successes: int, n: int, confidence: float = 0.95, side: Side = "upper") -> float:
    """One-sided Wilson score bound at ``confidence`` (z = Φ⁻¹(confidence)).

    For display. Do not decide with it: at 0 failures and p near the threshold its
    false-PASS rate exceeds the nominal level (6.8 % at nominal 5 %, n = 268, p = 1 %).
    """
    successes, n = _check_counts(successes, n)
    confidence = _check_probability(confidence, "confidence")
    _check_side(side)
    if n == 0:
        return 1.0 if side == "upper" else 0.0
    z = _z(1 - confidence)
    return _wilson_limit(successes, n, z if side == "upper" else -z)


# --------------------------------------------------------------------------- Clopper–Pearson


def _cp_upper(successes: int, n: int, level: float) -> float:
    if successes == n:
        return 1.0
    from scipy.stats import beta

    return float(beta.ppf(level, successes + 1, n - successes))


def _cp_lower(successes: int, n: int, level: float) -> float:
    if successes == 0:
        return 0.0
    from scipy.stats import beta

    return float(beta.ppf(1 - level, successes, n - successes + 1))


def clopper_pearson_interval(
    successes: int, n: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Two-sided exact (Clopper–Pearson) interval from beta quantiles.

    Coverage is at least ``confidence`` for every true p, which is why decisions use the
    exact method. Returns ``(low, high)``; ``low == 0`` at ``successes == 0``, ``high == 1``
    at ``successes == n``, ``(0.0, 1.0)`` when ``n == 0``.
    """
    successes, n = _check_counts(successes, n)
    confidence = _check_probability(confidence, "confidence")
    if n == 0:
        return 0.0, 1.0
    level = 1 - (1 - confidence) / 2
    return _cp_lower(successes, n, level), _cp_upper(successes, n, level)


def clopper_pearson_bound(
    successes: int, n: int, confidence: float = 0.95, side: Side = "upper"
) -> float:
    """One-sided exact bound: upper ``beta.ppf(c, k+1, n-k)``, lower ``beta.ppf(1-c, k, n-k+1)``.

    At k = 0 the upper bound is ``1 - (1-c)**(1/n)`` (≈ 3/n at 95 %, the rule of three).
    """
    successes, n = _check_counts(successes, n)
    confidence = _check_probability(confidence, "confidence")
    _check_side(side)
    if n == 0:
        return 1.0 if side == "upper" else 0.0
    if side == "upper":
        return _cp_upper(successes, n, confidence)
    return _cp_lower(successes, n, confidence)


# --------------------------------------------------------------------------- decisions


def proportion_bounds(
    successes: int, n: int, method: Method, confidence: float = 0.95
) -> tuple[float, float]:
    """The ``(lower, upper)`` bounds a verdict is decided on.

    PASS when ``upper`` is below the threshold, FAIL when ``lower`` is above it.

    * ``"wilson"``: the **two-sided** Wilson interval at ``confidence``, so each limit is a
      one-sided ``(1 + confidence) / 2`` bound. The one-sided Wilson bound is
      anti-conservative near 0 failures, while the two-sided upper limit kept the false-PASS
      rate at or below 2.55 % at nominal 95 % (stat-gating §4.1).
    * ``"exact"``: Clopper–Pearson **one-sided** bounds at ``confidence`` on each side.
      Each side's error is at most ``1 - confidence`` for every true p.
    """
    confidence = _check_decision_confidence(confidence)
    _check_method(method)
    if method == "wilson":
        return wilson_interval(successes, n, confidence)
    return (
        clopper_pearson_bound(successes, n, confidence, "lower"),
        clopper_pearson_bound(successes, n, confidence, "upper"),
    )


def min_samples(
    threshold: float, errors: int = 0, method: Method = "wilson", confidence: float = 0.95
) -> int:
    """Smallest n at which ``errors`` failures give a decision upper bound below ``threshold``.

    E.g. 381 (wilson) or 299 (exact) requests with 0 errors for "error rate < 1 %" at 95 %.
    For a fixed error count both upper bounds decrease in n, so a galloping search followed by
    bisection finds the smallest n in O(log n) bound evaluations.
    """
    threshold = _check_probability(threshold, "threshold")
    confidence = _check_decision_confidence(confidence)
    errors = operator.index(errors)
    if errors < 0:
        raise ValueError(f"errors must be >= 0, got {errors}")
    _check_method(method)

    def upper(n: int) -> float:
        if method == "wilson":
            return wilson_interval(errors, n, confidence)[1]
        return clopper_pearson_bound(errors, n, confidence, "upper")

    # Both bounds exceed errors/n, so no n below errors/threshold can clear.
    low = max(1, math.ceil(errors / threshold))
    if upper(low) < threshold:
        return low
    high = 2 * low
    while upper(high) >= threshold:  # terminates: the bound tends to errors/n < threshold
        low, high = high, 2 * high
    while high - low > 1:  # invariant: low does not clear, high does
        mid = (low + high) // 2
        if upper(mid) < threshold:
            high = mid
        else:
            low = mid
    return high


# --------------------------------------------------------------------------- quantiles


def quantile_bound_indices(
    n: int, q: float = 0.95, confidence: float = 0.95
) -> tuple[int | None, int | None]:
    """1-based order-statistic indices ``(j, k)`` bounding the q-quantile at ``confidence``.

    ``x(k)`` is a one-sided upper bound, with ``k = binom.ppf(confidence, n, q) + 1`` the
    smallest k with ``P(Bin(n, q) <= k - 1) >= confidence``; ``x(j)`` is a one-sided lower
    bound with ``j = binom.ppf(1 - confidence, n, q)``. Distribution-free: only the
    binomial count of observations below the true quantile is used.

    ``k`` is None when it would exceed n (n below :func:`quantile_min_samples`); ``j`` is
    None when it would be below 1.
    """
    n = operator.index(n)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    q = _check_probability(q, "q")
    confidence = _check_decision_confidence(confidence)
    if n == 0:
        return None, None
    from scipy.stats import binom

    k = int(binom.ppf(confidence, n, q)) + 1
    j = int(binom.ppf(1 - confidence, n, q))
    return (j if j >= 1 else None), (k if k <= n else None)


def quantile_min_samples(q: float = 0.95, confidence: float = 0.95) -> int:
    """Fewest observations for which an upper bound on the q-quantile exists (59 at 95/95).

    That is the smallest n with ``q**n <= 1 - confidence``.
    """
    q = _check_probability(q, "q")
    confidence = _check_decision_confidence(confidence)
    n = max(1, math.ceil(math.log(1 - confidence) / math.log(q)))
    # Settle rounding at the boundary with the same binom.ppf the indices use.
    while n > 1 and quantile_bound_indices(n - 1, q, confidence)[1] is not None:
        n -= 1
    while quantile_bound_indices(n, q, confidence)[1] is None:
        n += 1
    return n


def _order_statistic(samples: Sequence[float], index: int | None) -> float | None:
    import numpy as np

    values = np.asarray(samples, dtype=float)
    if np.isnan(values).any():
        raise ValueError("samples contain nan; order statistics are undefined")
    if index is None:
        return None
    return float(np.partition(values, index - 1)[index - 1])


def quantile_upper_bound(
    samples: Sequence[float], q: float = 0.95, confidence: float = 0.95
) -> float | None:
    """One-sided upper confidence bound ``x(k)`` for the q-quantile, None if n is too small."""
    return _order_statistic(samples, quantile_bound_indices(len(samples), q, confidence)[1])


def quantile_lower_bound(
    samples: Sequence[float], q: float = 0.95, confidence: float = 0.95
) -> float | None:
    """One-sided lower confidence bound ``x(j)`` for the q-quantile, None if n is too small."""
    return _order_statistic(samples, quantile_bound_indices(len(samples), q, confidence)[0])


def max_slow_for_pass(n: int, q: float = 0.95, confidence: float = 0.95) -> int | None:
    """Most observations above the latency threshold that still PASS (``n - k``), or None.

    ``x(k) <= T`` holds exactly when at most ``n - k`` observations exceed T, so this is the
    order-statistic test restated for histogram counts.
    """
    k = quantile_bound_indices(n, q, confidence)[1]
    return None if k is None else n - k


def min_slow_for_fail(n: int, q: float = 0.95, confidence: float = 0.95) -> int | None:
    """Fewest observations above the latency threshold that FAIL (``n - j + 1``), or None.

    ``x(j) > T`` holds exactly when at least ``n - j + 1`` observations exceed T.
    """
    j = quantile_bound_indices(n, q, confidence)[0]
    return None if j is None else n - j + 1


def quantile_verdict_from_counts(
    slow: int, n: int, q: float = 0.95, confidence: float = 0.95
) -> QuantileVerdict:
    """Verdict on "q-quantile <= T" from the count of observations slower than T.

    Works on histogram buckets when T is a bucket edge, and handles ties. PASS iff
    ``slow <= n - k``, FAIL iff ``slow >= n - j + 1``, otherwise INCONCLUSIVE. Below the
    minimum n no PASS is possible, and the verdict is INCONCLUSIVE (reason ``N_BELOW_MIN``)
    even when the FAIL condition holds.
    """
    slow, n = _check_counts(slow, n, name="slow")
    pass_max = max_slow_for_pass(n, q, confidence)
    if pass_max is None:
        return "INCONCLUSIVE"
    if slow <= pass_max:
        return "PASS"
    fail_min = min_slow_for_fail(n, q, confidence)
    if fail_min is not None and slow >= fail_min:
        return "FAIL"
    return "INCONCLUSIVE"
