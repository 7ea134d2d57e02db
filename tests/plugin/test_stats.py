"""Fixed-n bounds (engine.stats) against statsmodels, published values and exact properties."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binom, norm
from secondconf.engine.stats import (
    Side,
    clopper_pearson_bound,
    clopper_pearson_interval,
    max_slow_for_pass,
    min_samples,
    min_slow_for_fail,
    proportion_bounds,
    quantile_bound_indices,
    quantile_lower_bound,
    quantile_min_samples,
    quantile_upper_bound,
    quantile_verdict_from_counts,
    wilson_bound,
    wilson_interval,
)
from statsmodels.stats.proportion import proportion_confint


def close(expected: object) -> object:
    """Agreement to ~1e-9 relative: the same formulas, up to floating-point rounding."""
    return pytest.approx(expected, rel=1e-9, abs=1e-12)


NS = [1, 2, 3, 5, 10, 20, 29, 59, 100, 263, 299, 381, 1000, 9000]
GRID = sorted({(k, n) for n in NS for k in {0, 1, 2, n // 3, n // 2, n - 1, n} if 0 <= k <= n})
CONFIDENCES = [0.8, 0.9, 0.95, 0.99, 0.999]


@st.composite
def counts(draw: st.DrawFn, max_n: int = 10_000) -> tuple[int, int]:
    n = draw(st.integers(min_value=1, max_value=max_n))
    return draw(st.integers(min_value=0, max_value=n)), n


confidences = st.sampled_from(CONFIDENCES)


# --------------------------------------------------------------------------- reference values


@pytest.mark.parametrize("confidence", CONFIDENCES)
def test_two_sided_intervals_match_statsmodels(confidence: float) -> None:
    alpha = 1 - confidence
    for k, n in GRID:
        assert wilson_interval(k, n, confidence) == close(
            proportion_confint(k, n, alpha=alpha, method="wilson")
        ), (k, n)
        assert clopper_pearson_interval(k, n, confidence) == close(
            proportion_confint(k, n, alpha=alpha, method="beta")
        ), (k, n)


@pytest.mark.parametrize("confidence", CONFIDENCES)
@pytest.mark.parametrize(
    ("method", "bound"), [("wilson", wilson_bound), ("beta", clopper_pearson_bound)]
)
def test_one_sided_bounds_match_statsmodels(
    method: str, bound: Callable[[int, int, float, Side], float], confidence: float
) -> None:
    # statsmodels: alternative="larger" returns (0, upper), "smaller" returns (lower, 1).
    alpha = 1 - confidence
    for k, n in GRID:
        upper = proportion_confint(k, n, alpha=alpha, method=method, alternative="larger")[1]
        lower = proportion_confint(k, n, alpha=alpha, method=method, alternative="smaller")[0]
        assert bound(k, n, confidence, "upper") == close(upper), (k, n)
        assert bound(k, n, confidence, "lower") == close(lower), (k, n)


@pytest.mark.parametrize(
    ("k", "n", "expected"),
    [
        # Newcombe (1998), Stat. Med. 17:857, Table I, method 3 (Wilson score), 95 %.
        (81, 263, (0.2553, 0.3662)),
        (15, 148, (0.0624, 0.1605)),
        (0, 20, (0.0000, 0.1611)),
        (1, 29, (0.0061, 0.1718)),
    ],
)
def test_wilson_matches_newcombe_1998(k: int, n: int, expected: tuple[float, float]) -> None:
    assert wilson_interval(k, n, 0.95) == pytest.approx(expected, abs=5e-5)


@pytest.mark.parametrize("n", [1, 7, 20, 299, 381, 9000])
def test_closed_forms_at_the_edges(n: int) -> None:
    z = norm.ppf(0.975)
    assert wilson_interval(0, n) == (0.0, close(z * z / (n + z * z)))
    assert wilson_interval(n, n) == (close(n / (n + z * z)), 1.0)
    # Exact one-sided at 0 failures: 1 - alpha**(1/n) (the "rule of three" is ~3/n).
    assert clopper_pearson_bound(0, n, 0.95) == close(1 - 0.05 ** (1 / n))
    assert clopper_pearson_bound(n, n, 0.95, "lower") == close(0.05 ** (1 / n))
    assert clopper_pearson_bound(n, n) == 1.0
    assert clopper_pearson_bound(0, n, side="lower") == 0.0
    assert clopper_pearson_interval(0, n)[0] == 0.0
    assert clopper_pearson_interval(n, n)[1] == 1.0


def test_worked_examples_from_the_research_note() -> None:
    assert clopper_pearson_bound(0, 900) == pytest.approx(0.00332, abs=5e-6)  # U = 0.33 %
    # Funnel 412/440 successes: the exact lower bound 0.914 clears 0.90.
    assert clopper_pearson_bound(412, 440, side="lower") == pytest.approx(0.914, abs=5e-4)


def test_no_data_means_no_information() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert clopper_pearson_interval(0, 0) == (0.0, 1.0)
    for bound in (wilson_bound, clopper_pearson_bound):
        assert bound(0, 0, 0.95, "upper") == 1.0
        assert bound(0, 0, 0.95, "lower") == 0.0
    for method in ("wilson", "exact"):
        assert proportion_bounds(0, 0, method) == (0.0, 1.0)


# --------------------------------------------------------------------------- properties


@given(counts(), confidences)
def test_intervals_are_ordered_inside_unit_and_contain_the_estimate(
    kn: tuple[int, int], confidence: float
) -> None:
    k, n = kn
    pairs = [
        wilson_interval(k, n, confidence),
        clopper_pearson_interval(k, n, confidence),
        proportion_bounds(k, n, "wilson", confidence),
        proportion_bounds(k, n, "exact", confidence),
    ]
    for low, high in pairs:
        assert 0.0 <= low <= k / n <= high <= 1.0


@given(counts(), confidences)
def test_endpoints_are_non_decreasing_in_k(kn: tuple[int, int], confidence: float) -> None:
    k, n = kn
    if k == n:
        k -= 1
    for interval in (wilson_interval, clopper_pearson_interval):
        low, high = interval(k, n, confidence)
        low_next, high_next = interval(k + 1, n, confidence)
        assert low_next >= low
        assert high_next >= high


@given(counts(max_n=5_000), st.integers(min_value=2, max_value=20), confidences)
def test_wilson_width_shrinks_as_n_grows_at_fixed_estimate(
    kn: tuple[int, int], factor: int, confidence: float
) -> None:
    # True for Wilson: width²(u = 1/n) has positive derivative whenever p̂(1-p̂) <= 1/4.
    k, n = kn
    low, high = wilson_interval(k, n, confidence)
    low_big, high_big = wilson_interval(factor * k, factor * n, confidence)
    assert high_big - low_big < high - low


@given(counts(), st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_one_sided_bound_is_the_two_sided_limit_at_twice_the_error(
    kn: tuple[int, int], confidence: float
) -> None:
    k, n = kn
    two_sided = 2 * confidence - 1
    for bound, interval in (
        (wilson_bound, wilson_interval),
        (clopper_pearson_bound, clopper_pearson_interval),
    ):
        low, high = interval(k, n, two_sided)
        assert bound(k, n, confidence, "upper") == pytest.approx(high, rel=1e-9)
        assert bound(k, n, confidence, "lower") == pytest.approx(low, rel=1e-9, abs=1e-15)


@given(counts(), confidences)
def test_decision_bounds_are_what_the_docstring_says(
    kn: tuple[int, int], confidence: float
) -> None:
    k, n = kn
    assert proportion_bounds(k, n, "wilson", confidence) == wilson_interval(k, n, confidence)
    assert proportion_bounds(k, n, "exact", confidence) == (
        clopper_pearson_bound(k, n, confidence, "lower"),
        clopper_pearson_bound(k, n, confidence, "upper"),
    )


@pytest.mark.parametrize(("n", "p"), [(30, 0.05), (268, 0.01), (299, 0.01), (1000, 0.2)])
def test_exact_one_sided_bounds_have_at_least_nominal_coverage(n: int, p: float) -> None:
    # Exact computation over every k, no simulation.
    ks = range(n + 1)
    pmf = binom.pmf(ks, n, p)
    upper_covers = [clopper_pearson_bound(k, n, 0.95, "upper") >= p for k in ks]
    lower_covers = [clopper_pearson_bound(k, n, 0.95, "lower") <= p for k in ks]
    assert pmf[upper_covers].sum() >= 0.95
    assert pmf[lower_covers].sum() >= 0.95


# --------------------------------------------------------------------------- min_samples


@pytest.mark.parametrize(
    ("errors", "wilson", "exact"),
    # stat-gating §4.1: Wilson two-sided (z = 1.96) and Clopper–Pearson one-sided, 95 %, p < 1 %.
    [(0, 381, 299), (1, 563, 473), (2, 726, 628), (3, 878, 773)],
)
def test_min_samples_table(errors: int, wilson: int, exact: int) -> None:
    assert min_samples(0.01, errors, "wilson") == wilson
    assert min_samples(0.01, errors, "exact") == exact


@pytest.mark.parametrize(
    ("threshold", "confidence", "expected"),
    [(0.01, 0.99, 459), (0.01, 0.999, 688), (0.10, 0.95, 29), (0.10, 0.99, 44), (0.10, 0.999, 66)],
)
def test_min_samples_exact_stricter_alpha_and_funnel(
    threshold: float, confidence: float, expected: int
) -> None:
    assert min_samples(threshold, 0, "exact", confidence) == expected


@given(
    st.floats(min_value=0.001, max_value=0.5),
    st.integers(min_value=0, max_value=30),
    st.sampled_from(["wilson", "exact"]),
    st.sampled_from([0.9, 0.95, 0.99]),
)
def test_min_samples_is_the_first_n_that_clears(
    threshold: float, errors: int, method: str, confidence: float
) -> None:
    n = min_samples(threshold, errors, method, confidence)  # type: ignore[arg-type]
    assert proportion_bounds(errors, n, method, confidence)[1] < threshold  # type: ignore[arg-type]
    if n - 1 >= max(errors, 1):
        previous = proportion_bounds(errors, n - 1, method, confidence)[1]  # type: ignore[arg-type]
        assert previous >= threshold


# --------------------------------------------------------------------------- quantiles

# stat-gating §4.2 (q = 0.95, 95 %): n, UCB index k, slow allowed for PASS, FAIL if slow >=.
QUANTILE_TABLE = [
    (59, 59, 0, 7),
    (100, 99, 1, 10),
    (300, 292, 8, 22),
    (1000, 962, 38, 63),
    (9000, 8585, 415, 485),
]


@pytest.mark.parametrize(("n", "k", "pass_max", "fail_min"), QUANTILE_TABLE)
def test_quantile_table(n: int, k: int, pass_max: int, fail_min: int) -> None:
    assert quantile_bound_indices(n) == (n - fail_min + 1, k)
    assert max_slow_for_pass(n) == pass_max
    assert min_slow_for_fail(n) == fail_min
    assert quantile_verdict_from_counts(pass_max, n) == "PASS"
    assert quantile_verdict_from_counts(pass_max + 1, n) == "INCONCLUSIVE"
    assert quantile_verdict_from_counts(fail_min - 1, n) == "INCONCLUSIVE"
    assert quantile_verdict_from_counts(fail_min, n) == "FAIL"
    assert quantile_verdict_from_counts(n, n) == "FAIL"


def test_quantile_minimum_sample_size() -> None:
    assert quantile_min_samples() == 59
    assert quantile_bound_indices(58)[1] is None
    assert max_slow_for_pass(58) is None
    # Below the minimum nothing is decided, not even with every request slow.
    assert quantile_verdict_from_counts(0, 58) == "INCONCLUSIVE"
    assert quantile_verdict_from_counts(58, 58) == "INCONCLUSIVE"
    assert quantile_verdict_from_counts(0, 0) == "INCONCLUSIVE"
    assert quantile_bound_indices(0) == (None, None)
    assert quantile_bound_indices(1)[0] is None


@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.99, 0.999])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_quantile_min_samples_is_first_n_with_an_upper_bound(q: float, confidence: float) -> None:
    n = quantile_min_samples(q, confidence)
    assert quantile_bound_indices(n, q, confidence)[1] == n
    assert n == 1 or quantile_bound_indices(n - 1, q, confidence)[1] is None
    assert n == math.ceil(math.log(1 - confidence) / math.log(q))


@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.99])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_quantile_indices_meet_their_definition(q: float, confidence: float) -> None:
    ns = np.array([*range(1, 301), 500, 1000, 2000, 5000, 9000])
    indices = [quantile_bound_indices(int(n), q, confidence) for n in ns]
    j = np.array([n + 1 if jn is None else jn for n, (jn, _) in zip(ns, indices, strict=True)])
    k = np.array([n + 1 if kn is None else kn for n, (_, kn) in zip(ns, indices, strict=True)])
    # k: smallest index with P(Bin(n, q) <= k - 1) >= confidence (n + 1 when there is none).
    has_k = k <= ns
    assert (binom.cdf(k - 1, ns, q)[has_k] >= confidence).all()
    assert (binom.cdf(k - 2, ns, q) < confidence).all()
    # j: P(Bin(n, q) <= j - 1) < 1 - confidence, so x(j) is a lower bound; None only if j < 1.
    has_j = j <= ns
    assert (binom.cdf(j - 1, ns, q)[has_j] < 1 - confidence).all()
    assert (binom.cdf(0, ns, q)[~has_j] >= 1 - confidence).all()
    assert (j[has_j] < k[has_j]).all()


latencies = st.lists(st.floats(min_value=0.0, max_value=10.0), min_size=0, max_size=400)


@given(latencies)
def test_quantile_bounds_are_order_statistics(samples: list[float]) -> None:
    n = len(samples)
    j, k = quantile_bound_indices(n) if n else (None, None)
    ordered = sorted(samples)
    assert quantile_upper_bound(samples) == (None if k is None else ordered[k - 1])
    assert quantile_lower_bound(samples) == (None if j is None else ordered[j - 1])
    assert quantile_upper_bound(ordered) == quantile_upper_bound(samples)


@given(latencies, st.floats(min_value=0.0, max_value=10.0))
def test_slow_counts_agree_with_order_statistics(samples: list[float], limit: float) -> None:
    n = len(samples)
    slow = sum(x > limit for x in samples)
    verdict = quantile_verdict_from_counts(slow, n)
    upper, lower = quantile_upper_bound(samples), quantile_lower_bound(samples)
    if upper is None:
        assert verdict == "INCONCLUSIVE"
    elif upper <= limit:
        assert verdict == "PASS"
    elif lower is not None and lower > limit:
        assert verdict == "FAIL"
    else:
        assert verdict == "INCONCLUSIVE"


# --------------------------------------------------------------------------- invalid input


@pytest.mark.parametrize(("k", "n"), [(-1, 10), (11, 10), (0, -1), (-1, -1)])
def test_bad_counts_raise(k: int, n: int) -> None:
    for call in (wilson_interval, clopper_pearson_interval, wilson_bound, clopper_pearson_bound):
        with pytest.raises(ValueError, match=r"must be"):
            call(k, n)
    with pytest.raises(ValueError, match=r"must be"):
        proportion_bounds(k, n, "exact")


@pytest.mark.parametrize("confidence", [0.0, 1.0, -0.5, 1.5, float("nan")])
def test_bad_confidence_raises(confidence: float) -> None:
    for call in (wilson_interval, clopper_pearson_interval, wilson_bound, clopper_pearson_bound):
        with pytest.raises(ValueError, match="confidence"):
            call(1, 10, confidence)
    with pytest.raises(ValueError, match="confidence"):
        proportion_bounds(1, 10, "wilson", confidence)
    with pytest.raises(ValueError, match="confidence"):
        quantile_bound_indices(100, 0.95, confidence)


def test_decisions_refuse_confidence_below_one_half() -> None:
    with pytest.raises(ValueError, match="confidence"):
        proportion_bounds(1, 10, "exact", 0.4)
    with pytest.raises(ValueError, match="confidence"):
        quantile_verdict_from_counts(1, 100, 0.95, 0.4)


def test_other_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="side"):
        wilson_bound(1, 10, 0.95, "both")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="side"):
        clopper_pearson_bound(1, 10, 0.95, "both")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="method"):
        proportion_bounds(1, 10, "wald")  # type: ignore[arg-type]
    for threshold in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="threshold"):
            min_samples(threshold)
    with pytest.raises(ValueError, match="errors"):
        min_samples(0.01, -1)
    with pytest.raises(ValueError, match="q must be"):
        quantile_bound_indices(100, 1.0)
    with pytest.raises(ValueError, match="n must be"):
        quantile_bound_indices(-1)
    with pytest.raises(ValueError, match="slow"):
        quantile_verdict_from_counts(101, 100)
    with pytest.raises(ValueError, match="nan"):
        quantile_upper_bound([1.0, float("nan")] * 40)
    with pytest.raises(TypeError):
        wilson_interval(1.5, 10)  # type: ignore[arg-type]
