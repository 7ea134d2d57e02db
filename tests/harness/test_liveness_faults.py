"""Phase 1 catches each fault it looks for, and passes a clean ecosystem.

One measurement injects five faults into five apps at once (the reference target's fault
switches), so the apps left clean show that a fault in one app does not fail another.
"""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from secondconf.checks.liveness.measure import LivenessResult
from secondconf.engine.verdict import Outcome, Reason, Verdict
from secondconf.engine.window import GatingMode

from tests.harness.conftest import TEST_PLAN, HarnessTarget

pytestmark = pytest.mark.serial  # timing-sensitive: runs alone, not beside other tests

FAULTS = {
    "A2": {"error_503_fraction": 0.03},
    "A3": {"added_latency_ms": 150},
    "A4": {"ready_fails": True},
    "A5": {"telemetry_drop_fraction": 0.3},
}
STOPPED = "A6"
CLEAN = ("A1", "A7", "A8")


def verdict(result: LivenessResult, app_id: str, check: str, source: str) -> Verdict:
    return next(v for v in result.for_app(app_id) if (v.check, v.source) == (check, source))


def app_outcome(result: LivenessResult, app_id: str) -> set[Outcome]:
    return {v.outcome for v in result.for_app(app_id)}


@pytest.fixture(scope="module")
def faulted(harness_target: HarnessTarget) -> LivenessResult:
    for app_id, faults in FAULTS.items():
        harness_target.set_faults(app_id, faults)
    harness_target.eco.stop(STOPPED)
    try:
        return harness_target.measure()
    finally:
        harness_target.eco.start(STOPPED)
        for app_id in FAULTS:
            harness_target.set_faults(
                app_id,
                {
                    "error_503_fraction": 0,
                    "added_latency_ms": 0,
                    "ready_fails": False,
                    "telemetry_drop_fraction": 0,
                },
            )


def test_three_percent_503s_fail_the_error_rate(faulted: LivenessResult) -> None:
    probe = verdict(faulted, "A2", "error_rate", "probe")
    assert probe.outcome in (Outcome.FAIL, Outcome.INCONCLUSIVE)
    assert probe.estimate is not None
    assert 0.01 < probe.estimate < 0.06
    assert verdict(faulted, "A2", "error_rate", "combined").outcome is not Outcome.PASS


def test_added_latency_fails_p95_from_both_sources(faulted: LivenessResult) -> None:
    for source in ("probe", "telemetry", "combined"):
        latency = verdict(faulted, "A3", "p95_latency_ms", source)
        assert latency.outcome is Outcome.FAIL, latency.summary()
    assert verdict(faulted, "A3", "p95_latency_ms", "probe").estimate >= 150  # type: ignore[operator]


def test_failing_ready_fails_the_error_rate(faulted: LivenessResult) -> None:
    probe = verdict(faulted, "A4", "error_rate", "probe")
    assert (probe.outcome, probe.reason) == (Outcome.FAIL, Reason.BOUND_EXCEEDS)
    assert probe.estimate == pytest.approx(0.5, abs=0.02)  # every /ready, no /health


def test_dropped_telemetry_fails_completeness_and_discredits_a8(faulted: LivenessResult) -> None:
    completeness = verdict(faulted, "A5", "telemetry_completeness", "telemetry")
    assert (completeness.outcome, completeness.reason) == (
        Outcome.FAIL,
        Reason.TELEMETRY_INCOMPLETE,
    )
    assert completeness.estimate == pytest.approx(0.3, abs=0.08)
    telemetry = verdict(faulted, "A5", "error_rate", "telemetry")
    assert (telemetry.outcome, telemetry.reason) == (
        Outcome.INCONCLUSIVE,
        Reason.TELEMETRY_INCOMPLETE,
    )
    assert verdict(faulted, "A5", "error_rate", "probe").outcome is Outcome.PASS


def test_stopped_app_fails_and_a8_without_data_is_never_a_pass(faulted: LivenessResult) -> None:
    probe = verdict(faulted, STOPPED, "error_rate", "probe")
    assert (probe.outcome, probe.estimate) == (Outcome.FAIL, 1.0)
    telemetry = verdict(faulted, STOPPED, "error_rate", "telemetry")
    assert (telemetry.outcome, telemetry.reason) == (Outcome.INCONCLUSIVE, Reason.NO_DATA)
    assert verdict(faulted, STOPPED, "error_rate", "combined").outcome is Outcome.FAIL


@pytest.mark.parametrize("app_id", CLEAN)
def test_apps_without_a_fault_still_pass(faulted: LivenessResult, app_id: str) -> None:
    not_passed = [v.summary() for v in faulted.for_app(app_id) if not v.passed]
    assert not not_passed


def test_a_clean_ecosystem_passes_every_app(harness_target: HarnessTarget) -> None:
    """No false FAIL (or INCONCLUSIVE) on a healthy ecosystem; the test command's gate step
    (scripts/test-suite.sh) measures a second clean run, its phase 1."""
    result = harness_target.measure()
    not_passed = [v.summary() for a in result.verdicts for v in result.for_app(a) if not v.passed]
    assert not not_passed


def test_sequential_mode_reports_a_clearly_failing_app_early(
    harness_target: HarnessTarget,
) -> None:
    """An anytime-valid test may stop at its first boundary crossing: the two failing
    apps are FAIL long before the stable window would have ended."""
    harness_target.set_faults("A3", {"added_latency_ms": 150})
    harness_target.set_faults("A4", {"ready_fails": True})
    plan = replace(TEST_PLAN, mode=GatingMode.SEQUENTIAL)
    try:
        started = time.monotonic()
        result = harness_target.measure(plan, app_ids=("A3", "A4"))
        elapsed = time.monotonic() - started
    finally:
        harness_target.set_faults("A3", {"added_latency_ms": 0})
        harness_target.set_faults("A4", {"ready_fails": False})
    latency = verdict(result, "A3", "p95_latency_ms", "probe")
    errors = verdict(result, "A4", "error_rate", "probe")
    for failed in (latency, errors):
        assert (failed.outcome, failed.method) == (Outcome.FAIL, "sprt"), failed.summary()
        assert failed.details["decided_at"] < 100
    assert elapsed < plan.burn_in_s + plan.window_s / 2
