"""The prober's judgement of its own lag: pure, on samples with hand-set times."""

from __future__ import annotations

from pathlib import Path

import pytest
from secondconf.checks.liveness.prober import ProbeSample
from secondconf.checks.liveness.saturation import (
    MAX_LAG_P99_MS,
    PROBER_CAPACITY_PER_S,
    HarnessLoad,
    ProberCapacityError,
    blame_harness,
    measure_load,
    refuse_above_capacity,
    sent_late,
)
from secondconf.engine.results import CheckRecord, ResultsModel
from secondconf.engine.verdict import Outcome, Reason, judge_rate
from secondconf.reports.liveness import SLO_MATRIX, write_liveness_reports

from tests.plugin.test_inventory_report import settings

TIMEOUT_S = 2.0  # late after 0.2 s


def sample(scheduled_at: float, lag_s: float, error: bool = False) -> ProbeSample:
    return ProbeSample(
        app_id="A1",
        kind="health",
        scheduled_at=scheduled_at,
        sent_at=scheduled_at + lag_s,
        status=None if error else 200,
        latency_ms=(lag_s + 0.005) * 1000,
        error="timeout" if error else None,
        trace_id="a" * 32,
        wall_time="2026-01-01T00:00:00Z",
    )


def steady(n: int, rate: float, lag_s: float) -> list[ProbeSample]:
    return [sample(i / rate, lag_s) for i in range(n)]


def test_a_probe_sent_more_than_a_tenth_of_its_timeout_late_is_late() -> None:
    assert not sent_late(sample(10.0, 0.2), TIMEOUT_S)
    assert sent_late(sample(10.0, 0.201), TIMEOUT_S)


def test_a_prober_on_schedule_is_not_saturated() -> None:
    load = measure_load(steady(200, 100.0, 0.002), offered_per_s=100.0, timeout_s=TIMEOUT_S)
    assert (load.probes, load.late, load.saturated) == (200, 0, False)
    assert load.lag_p50_ms == pytest.approx(2.0)
    assert load.lag_p99_ms == pytest.approx(2.0)
    assert load.held_per_s == pytest.approx(100.0, rel=0.01)


def test_a_lag_p99_above_the_bound_saturates_the_run() -> None:
    samples = steady(100, 100.0, 0.001)
    samples[-2:] = [sample(s.scheduled_at, 0.050) for s in samples[-2:]]  # 2 % at 50 ms
    load = measure_load(samples, offered_per_s=100.0, timeout_s=TIMEOUT_S)
    assert load.lag_p99_ms == pytest.approx(50.0)
    assert (load.late, load.saturated) == (0, True)


def test_one_percent_of_slightly_late_sends_stays_within_the_bound() -> None:
    samples = steady(100, 100.0, 0.001)
    samples[-1] = sample(samples[-1].scheduled_at, 0.050)
    load = measure_load(samples, offered_per_s=100.0, timeout_s=TIMEOUT_S)
    assert load.lag_p99_ms < MAX_LAG_P99_MS
    assert not load.saturated


def test_a_single_late_probe_saturates_the_run() -> None:
    samples = steady(1000, 100.0, 0.001)
    samples[500] = sample(samples[500].scheduled_at, 0.5)
    load = measure_load(samples, offered_per_s=100.0, timeout_s=TIMEOUT_S)
    assert load.lag_p99_ms < MAX_LAG_P99_MS
    assert (load.late, load.saturated) == (1, True)


def test_the_held_rate_is_what_a_falling_behind_prober_actually_sent() -> None:
    """Offered 1000/s for 1 s, but each send is 2.5 ms after the last: 400/s held."""
    samples = [sample(i / 1000, i * 0.0025 - i / 1000) for i in range(1000)]
    load = measure_load(samples, offered_per_s=1000.0, timeout_s=TIMEOUT_S, cpu_s=2.0)
    assert load.held_per_s == pytest.approx(400.0, rel=0.01)
    assert load.cpu_ms_per_probe == pytest.approx(2.0)
    assert load.saturated


def test_no_samples_is_an_empty_unsaturated_load() -> None:
    load = measure_load([], offered_per_s=128.0, timeout_s=TIMEOUT_S)
    assert (load.probes, load.saturated, load.cpu_ms_per_probe) == (0, False, None)


SATURATED = HarnessLoad(400, 12, 80.0, 400.0, 1000.0, 412.3, 2.5)
STEADY = HarnessLoad(400, 0, 1.0, 3.0, 128.0, 128.0, 1.2)


def test_a_saturated_harness_turns_a_fail_into_harness_saturated() -> None:
    judged = judge_rate(check="error_rate", source="probe", failures=60, n=400, threshold=0.01)
    assert judged.outcome is Outcome.FAIL
    blamed = blame_harness(judged, SATURATED)
    assert (blamed.outcome, blamed.reason) == (Outcome.INCONCLUSIVE, Reason.HARNESS_SATURATED)
    assert blamed.details["judged_outcome"] == "FAIL"
    assert "held 412 of 1000 probes/s" in blamed.details["error"]
    assert blamed.details["harness"]["lag_p99_ms"] == 400.0
    assert (blamed.n, blamed.k, blamed.estimate) == (judged.n, judged.k, judged.estimate)


def test_a_steady_harness_leaves_the_verdict_and_states_its_load() -> None:
    judged = judge_rate(check="error_rate", source="probe", failures=60, n=400, threshold=0.01)
    kept = blame_harness(judged, STEADY)
    assert (kept.outcome, kept.reason) == (Outcome.FAIL, Reason.BOUND_EXCEEDS)
    assert kept.details["harness"] == STEADY.to_dict()
    assert kept.details["harness"]["saturated"] is False


def test_a_total_rate_above_capacity_is_refused_in_one_line() -> None:
    refuse_above_capacity(8.0, 16)  # the embedded default: 128/s
    refuse_above_capacity(PROBER_CAPACITY_PER_S / 16, 16)
    with pytest.raises(ProberCapacityError) as refused:
        refuse_above_capacity(20.0, 16)
    message = str(refused.value)
    assert "\n" not in message
    assert "20/s × 16 routes = 320 probes/s" in message
    assert f"capacity of {PROBER_CAPACITY_PER_S:g} probes/s" in message


def test_the_slo_matrix_shows_the_harness_saturated_reason(tmp_path: Path) -> None:
    record = CheckRecord(
        "suites/test_liveness.py::test_liveness[A1]",
        {"phase": 1, "app": "A1", "tags": ["second_confirmation", "liveness"]},
        outcome="failed",
    )
    judged = judge_rate(
        check="error_rate", source="probe", failures=60, n=400, threshold=0.01, subject="A1"
    )
    record.verdicts.append(blame_harness(judged, SATURATED))
    results = ResultsModel()
    results.checks = {record.nodeid: record}
    write_liveness_reports(results, settings(tmp_path))
    matrix = (tmp_path / "reports" / SLO_MATRIX).read_text()
    assert "**INCONCLUSIVE** (HARNESS_SATURATED)" in matrix
