"""The verdict model: three outcomes, every figure recorded, sources ANDed."""

from __future__ import annotations

import pytest
from secondconf.engine.sequential import SequentialBernoulliTest
from secondconf.engine.verdict import (
    Outcome,
    Reason,
    Timeslice,
    Verdict,
    Window,
    combine_sources,
    judge_quantile,
    judge_quantile_counts,
    judge_rate,
    judge_sequential,
)


def rate(failures: int, n: int, method: str = "wilson") -> Verdict:
    return judge_rate(
        check="error_rate",
        source="probe",
        failures=failures,
        n=n,
        threshold=0.01,
        method=method,  # type: ignore[arg-type]
    )


def test_no_data_is_inconclusive_never_pass() -> None:
    verdict = rate(0, 0)
    assert (verdict.outcome, verdict.reason) == (Outcome.INCONCLUSIVE, Reason.NO_DATA)
    assert verdict.estimate is None


def test_clean_sample_at_the_wilson_minimum_passes() -> None:
    verdict = rate(0, 381)
    assert verdict.outcome is Outcome.PASS
    assert verdict.upper is not None
    assert verdict.upper < 0.01
    assert (verdict.n, verdict.k, verdict.method) == (381, 0, "wilson")


def test_clean_sample_one_short_of_the_minimum_is_n_below_min() -> None:
    verdict = rate(0, 380)
    assert (verdict.outcome, verdict.reason) == (Outcome.INCONCLUSIVE, Reason.N_BELOW_MIN)
    assert verdict.details["min_n_for_pass"] == 381


def test_exact_method_needs_fewer_samples_than_two_sided_wilson() -> None:
    assert rate(0, 299, "exact").outcome is Outcome.PASS
    assert rate(0, 298, "exact").outcome is Outcome.INCONCLUSIVE


def test_high_error_rate_fails_with_lower_bound_above_threshold() -> None:
    verdict = rate(30, 1000)
    assert (verdict.outcome, verdict.reason) == (Outcome.FAIL, Reason.BOUND_EXCEEDS)
    assert verdict.lower is not None
    assert verdict.lower > 0.01
    assert verdict.estimate == pytest.approx(0.03)


def test_rate_near_threshold_with_enough_data_straddles() -> None:
    verdict = rate(10, 1000)
    assert (verdict.outcome, verdict.reason) == (Outcome.INCONCLUSIVE, Reason.BOUND_STRADDLES)


def test_quantile_passes_when_upper_order_statistic_is_under_threshold() -> None:
    verdict = judge_quantile(check="p95", source="probe", samples=[10.0] * 100, threshold=120)
    assert verdict.outcome is Outcome.PASS
    assert (verdict.n, verdict.k, verdict.upper) == (100, 0, 10.0)


def test_quantile_below_59_samples_is_n_below_min() -> None:
    verdict = judge_quantile(check="p95", source="probe", samples=[1.0] * 58, threshold=120)
    assert (verdict.outcome, verdict.reason) == (Outcome.INCONCLUSIVE, Reason.N_BELOW_MIN)


def test_quantile_fails_when_many_samples_are_slow() -> None:
    samples = [10.0] * 80 + [300.0] * 20
    verdict = judge_quantile(check="p95", source="probe", samples=samples, threshold=120)
    assert verdict.outcome is Outcome.FAIL
    assert verdict.k == 20


def test_quantile_counts_agree_with_order_statistics() -> None:
    for slow in range(0, 30):
        samples = [10.0] * (300 - slow) + [500.0] * slow
        by_order = judge_quantile(check="p95", source="a", samples=samples, threshold=120)
        by_count = judge_quantile_counts(check="p95", source="a", slow=slow, n=300, threshold=120)
        assert by_order.outcome == by_count.outcome, slow


def test_sequential_verdict_reports_its_statistic() -> None:
    test = SequentialBernoulliTest(0.01, 0.05)
    verdict = judge_sequential(check="error_rate", source="probe", test=test, failures=0, n=600)
    assert verdict.outcome is Outcome.PASS
    assert verdict.method == "sprt"
    assert verdict.details["log_lr_pass"] >= verdict.details["boundary"]


@pytest.mark.parametrize(
    ("outcomes", "expected", "reason"),
    [
        ((Outcome.PASS, Outcome.PASS), Outcome.PASS, Reason.BOUND_CLEARS),
        ((Outcome.PASS, Outcome.FAIL), Outcome.INCONCLUSIVE, Reason.SOURCE_CONFLICT),
        ((Outcome.FAIL, Outcome.PASS), Outcome.INCONCLUSIVE, Reason.SOURCE_CONFLICT),
        ((Outcome.FAIL, Outcome.INCONCLUSIVE), Outcome.FAIL, Reason.BOUND_EXCEEDS),
        ((Outcome.PASS, Outcome.INCONCLUSIVE), Outcome.INCONCLUSIVE, Reason.SOURCE_INCONCLUSIVE),
        ((Outcome.FAIL, Outcome.FAIL), Outcome.FAIL, Reason.BOUND_EXCEEDS),
    ],
)
def test_combined_verdict_is_the_and_of_its_sources(
    outcomes: tuple[Outcome, Outcome], expected: Outcome, reason: Reason
) -> None:
    sources = [
        Verdict(
            check="error_rate",
            source=name,
            outcome=o,
            reason=Reason.NO_DATA,
            threshold=0.01,
            estimate=None,
            lower=None,
            upper=None,
            method="wilson",
            alpha=0.05,
            n=1,
            k=0,
        )
        for name, o in zip(("probe", "telemetry"), outcomes, strict=True)
    ]
    combined = combine_sources("error_rate", sources)
    assert (combined.outcome, combined.reason) == (expected, reason)
    assert combined.details == {"probe": outcomes[0].value, "telemetry": outcomes[1].value}


def test_verdict_round_trips_through_a_json_safe_dict() -> None:
    window = Window(
        start="2026-01-01T00:00:05Z",
        end="2026-01-01T00:01:05Z",
        burn_in_s=5,
        burn_in_samples=3,
        timeslices=(Timeslice("2026-01-01T00:00:05Z", "2026-01-01T00:01:05Z", 400, 1, 2),),
    )
    verdict = judge_rate(
        check="error_rate",
        source="probe",
        failures=1,
        n=400,
        threshold=0.01,
        window=window,
        subject="A3",
    )
    assert Verdict.from_dict(verdict.to_dict()) == verdict
    assert verdict.to_dict()["window"]["timeslices"][0]["error_rate"] == pytest.approx(1 / 400)


def test_summary_names_subject_outcome_reason_and_figures() -> None:
    line = rate(30, 1000).summary()
    for part in ("error_rate", "FAIL", "BOUND_EXCEEDS", "n=1000", "k=30", "threshold=0.01"):
        assert part in line
