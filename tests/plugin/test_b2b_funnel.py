"""The B2B funnel's judges, its cold-start verdict, the load relabelling and its report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from secondconf.checks.coldstart.measure import ColdStartSample, judge_cold_start
from secondconf.checks.funnels.b2b import (
    STEPS,
    B2BJourney,
    B2BStep,
    EventSighting,
    expected_events,
    journey_username,
    judge_events,
    judge_signup,
)
from secondconf.checks.load.a6_billing import rule_verdicts
from secondconf.checks.load.baseline import BaselineResult, judge_endpoints
from secondconf.checks.load.locust import EndpointStats, LocustRun
from secondconf.engine.results import CheckRecord, ResultsModel
from secondconf.engine.verdict import Outcome
from secondconf.reports.b2b_funnel import B2B_RESULTS, step_latencies, write_b2b_report

from tests.plugin.pytester_helpers import settings_under


def journey(index: int, *, ok: bool = True, registered_new: bool = False) -> B2BJourney:
    steps = tuple(B2BStep(step, True, 0.1, 10.0 + i) for i, step in enumerate(STEPS))
    if not ok:
        steps = (*steps[:3], B2BStep("b2b.listing", False, 0.1, None, "HTTP 500: boom"))
    played = B2BJourney(
        index, journey_username(index), f"{index + 1:032x}", steps, {}, registered_new
    )
    events = tuple(EventSighting(e, due, 1.5, True) for e, due in expected_events(played))
    return B2BJourney(
        played.index, played.username, played.trace_id, steps, {}, registered_new, events
    )


def test_usernames_stay_in_the_synthetic_namespace() -> None:
    assert journey_username(0) == "test_provider_e2e_10"
    assert journey_username(89) == "test_provider_e2e_99"
    with pytest.raises(ValueError, match="namespace"):
        journey_username(90)


def test_35_first_attempts_without_a_failure_clear_90_percent() -> None:
    verdict = judge_signup([journey(i) for i in range(35)])
    assert verdict.outcome is Outcome.PASS
    assert verdict.details["rule"] == "B2B-01"
    assert verdict.details["success_lower_bound"] > 0.90


def test_34_successes_are_too_few_to_decide() -> None:
    assert judge_signup([journey(i) for i in range(34)]).outcome is Outcome.INCONCLUSIVE


def test_a_quarter_failing_fails_the_signup_rate() -> None:
    journeys = [journey(i, ok=i % 4 != 0) for i in range(40)]
    verdict = judge_signup(journeys)
    assert verdict.outcome is Outcome.FAIL
    assert "b2b.listing: HTTP 500: boom" in verdict.details["failures"][0]


def test_only_a_new_registration_owes_provider_registered() -> None:
    joined = {event for event, _ in expected_events(journey(0))}
    assert joined == {"provider_listing_published", "provider_billed", "revenue_settled"}
    assert "provider_registered" in {e for e, _ in expected_events(journey(0, registered_new=True))}


def test_an_event_not_seen_in_60_s_fails_b2b_02() -> None:
    late = journey(1)
    late = B2BJourney(
        late.index,
        late.username,
        late.trace_id,
        late.steps,
        {},
        False,
        (EventSighting("provider_billed", 15.0, None, False, "not seen"),),
    )
    assert judge_events([journey(0)]).outcome is Outcome.PASS
    verdict = judge_events([journey(0), late])
    assert verdict.outcome is Outcome.FAIL
    assert verdict.details["not_in_time"] == ["test_provider_e2e_11 provider_billed: not seen"]
    assert not late.ok


def sample(first_ms: float | None, ready: float | None = 1.2) -> ColdStartSample:
    return ColdStartSample("A6", "GET /v1/listings", ready, first_ms, 200, 4.0, "t0", "t1")


def test_a_cold_start_passes_only_with_every_first_request_inside_the_slo() -> None:
    assert judge_cold_start(sample(95.0)).outcome is Outcome.PASS
    slow = judge_cold_start(sample(1012.0))
    assert slow.outcome is Outcome.FAIL
    assert slow.details["rule"] == "B2B-04"
    assert judge_cold_start(sample(None, ready=None)).outcome is Outcome.FAIL


def load_result() -> BaselineResult:
    fast = EndpointStats("A6 /v1/billing", "POST", 400, 0, 0, {20: 400}, 25.0)
    run = LocustRun(8, 8.0, 40.0, 1.25, 41.0, "s", "e", 0, ("locust",), "f", "m")
    return BaselineResult({fast.name: fast}, judge_endpoints({fast.name: fast}, [fast.name]), run)


def test_the_billing_profile_verdicts_are_b2b_03s() -> None:
    verdicts = rule_verdicts(load_result())
    assert [v.details["rule"] for v in verdicts] == ["B2B-03", "B2B-03"]
    assert [v.outcome for v in verdicts] == [Outcome.PASS, Outcome.PASS]
    assert {v.details["measure"] for v in verdicts} == {
        "baseline_error_rate",
        "baseline_p95_latency_ms",
    }


def test_the_report_holds_each_part_and_its_runbook(tmp_path: Path) -> None:
    verdicts = [
        judge_signup([journey(i) for i in range(35)]),
        judge_events([journey(0)]),
        *rule_verdicts(load_result()),
        judge_cold_start(sample(1012.0)),
    ]
    record = CheckRecord(
        "suites/test_funnel_b2b.py::t", {"tags": ["funnel_b2b"], "phase": 3}, verdicts=verdicts
    )
    settings = settings_under(tmp_path)
    write_b2b_report(ResultsModel(checks={record.nodeid: record}), settings)
    report = json.loads((settings.reports_dir / B2B_RESULTS).read_text())
    assert len(report["provider_signup"]["journeys"]) == 35
    assert report["provider_signup"]["step_latency_s"]["b2b.billing"] == {
        "n": 35,
        "p50_s": 0.1,
        "p95_s": 0.1,
        "max_s": 0.1,
    }
    assert report["events"]["outcome"] == "PASS"
    assert report["load_a6_register_billing"][0]["p95_ms"] == 20.0
    assert report["load_a6_register_billing"][0]["outcome"] == "PASS"
    assert report["cold_starts"][0]["first_request_ms"] == 1012.0
    assert report["runbook"] == "docs/runbooks/b2b_recovery.md"
    assert report["chart"] == "b2b_funnel_latency.png"
    assert (settings.reports_dir / report["chart"]).read_bytes().startswith(b"\x89PNG")


def test_no_b2b_check_no_report(tmp_path: Path) -> None:
    settings = settings_under(tmp_path)
    write_b2b_report(ResultsModel(), settings)
    assert not (settings.reports_dir / B2B_RESULTS).exists()


def test_step_latencies_take_nearest_rank_percentiles_of_the_passed_steps() -> None:
    journeys = [{"steps": {"b2b.signup": float(i), "b2b.billing": None}} for i in range(1, 21)]
    assert step_latencies(journeys) == {
        "b2b.signup": {"n": 20, "p50_s": 10.0, "p95_s": 19.0, "max_s": 20.0}
    }
