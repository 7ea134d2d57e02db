"""Rule verdicts from a hardening run: per app, violations named, untested never passed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from secondconf.checks.hardening.model import (
    AppCoverage,
    CaseResult,
    Exchange,
    HardeningRun,
    RouteNote,
)
from secondconf.checks.hardening.rules import RULES, judge_rule
from secondconf.checks.hardening.walk import NoRouteError, countable_route
from secondconf.engine.evidence import RequestRecord
from secondconf.engine.verdict import Outcome, Reason


def case(rule: str, app: str, route: str, **extra: Any) -> CaseResult:
    label = f"{app} POST {route}"
    sent = RequestRecord(app, "POST", route, "x", 428, route=label, trace_id="ab" * 16)
    return CaseResult(rule, app, label, requests=[Exchange(sent)], **extra)


def run(
    cases: list[CaseResult], apps: dict[str, AppCoverage] | None = None, **extra: Any
) -> HardeningRun:
    summary = AppCoverage(covered=("x",))
    return HardeningRun(
        started_at="2026-11-26T00:00:00Z",
        ended_at="2026-11-26T00:00:10Z",
        env="embedded",
        apps=apps or {"A2": summary, "A3": summary},
        cases=cases,
        baselines={},
        **extra,
    )


def test_every_case_held_is_a_pass_per_app() -> None:
    verdicts = judge_rule(run([case("HDR-01", "A2", "/a"), case("HDR-01", "A3", "/b")]), "HDR-01")
    assert [(v.subject, v.outcome, v.n, v.k) for v in verdicts] == [
        ("A2", Outcome.PASS, 1, 0),
        ("A3", Outcome.PASS, 1, 0),
    ]
    assert verdicts[0].check == "HDR-01 " + RULES["HDR-01"].title
    assert verdicts[0].details["requests"][0]["route"] == "A2 POST /a"


def test_a_violation_fails_its_app_and_names_the_route() -> None:
    cases = [
        case("IDEM-09", "A2", "/a", violations=["second charge"]),
        case("IDEM-09", "A2", "/b"),
    ]
    (verdict,) = judge_rule(run(cases, apps={"A2": AppCoverage()}), "IDEM-09")
    assert (verdict.outcome, verdict.reason, verdict.n, verdict.k) == (
        Outcome.FAIL,
        Reason.CHECK_FAILED,
        2,
        1,
    )
    assert verdict.details["violations"] == ["A2 POST /a: second charge"]
    assert verdict.details["routes"] == {"A2 POST /a": "violated", "A2 POST /b": "held"}


def test_nothing_exercised_is_inconclusive_and_not_applicable_is_no_verdict() -> None:
    cases = [
        case("TEN-25", "A2", "/a", untested="could not create a {x}"),
        case("TEN-25", "A3", "/b", not_applicable="nothing to read"),
    ]
    (verdict,) = judge_rule(run(cases), "TEN-25")
    assert (verdict.subject, verdict.outcome, verdict.reason) == (
        "A2",
        Outcome.INCONCLUSIVE,
        Reason.NO_DATA,
    )
    assert verdict.details["untested"] == ["A2 POST /a: could not create a {x}"]


def test_a_route_left_untested_by_discovery_is_listed_with_the_tested_ones() -> None:
    apps = {
        "A2": AppCoverage(
            covered=("A2 POST /a",),
            untested=(RouteNote("A2 POST /b", "no JSON request example"),),
        )
    }
    (verdict,) = judge_rule(run([case("HDR-01", "A2", "/a")], apps=apps), "HDR-01")
    assert verdict.outcome is Outcome.PASS
    assert verdict.details["untested"] == ["A2 POST /b: no JSON request example"]


def test_a_target_without_covered_routes_is_inconclusive() -> None:
    empty = {"A1": AppCoverage()}
    (verdict,) = judge_rule(run([], apps=empty), "HDR-01")
    assert (verdict.subject, verdict.outcome) == ("all apps", Outcome.INCONCLUSIVE)


def test_an_app_without_a_document_is_inconclusive_with_the_reason() -> None:
    problem = "A4: no OpenAPI document at https://x/openapi.json (404); routes untested"
    verdicts = judge_rule(run([case("HDR-01", "A2", "/a")], problems=[problem]), "HDR-01")
    # A3 has no case of the rule: no verdict; A4 could not be asked: INCONCLUSIVE
    assert [(v.subject, v.outcome) for v in verdicts] == [
        ("A2", Outcome.PASS),
        ("A4", Outcome.INCONCLUSIVE),
    ]
    assert verdicts[-1].details["untested"] == [problem]


def test_the_run_round_trips_through_json() -> None:
    violated = case("IDEM-10", "A2", "/a", violations=["a second charge"], notes=["n"])
    violated.violate(violated.requests[0], "answered 201, not 422")
    apps = {
        "A2": AppCoverage(
            covered=("A2 POST /a",),
            exempt=(RouteNote("A2 POST /v1/events", "telemetry ingest"),),
            untested=(RouteNote("A2 POST /b", "no example"),),
        )
    }
    original = run(
        [violated, case("TEN-25", "A2", "/b", untested="could not create a {x}")],
        apps=apps,
        problems=["A4: x"],
        baseline_ms={"A2 POST /a": 3.5},
        walkable=["A2 POST /a"],
    )

    restored = HardeningRun.from_dict(json.loads(json.dumps(original.to_dict())))

    assert restored == original
    assert restored.cases[0].records[0].result == "answered 201, not 422"


def test_the_routes_section_is_what_the_report_reads() -> None:
    coverage = AppCoverage(
        covered=("A2 POST /a",),
        exempt=(RouteNote("A2 POST /v1/events", "telemetry ingest"),),
        untested=(RouteNote("A2 POST /b", "no example"),),
    )

    assert coverage.to_dict() == {
        "covered": ["A2 POST /a"],
        "exempt": [{"route": "A2 POST /v1/events", "reason": "telemetry ingest"}],
        "untested": [{"route": "A2 POST /b", "reason": "no example"}],
    }


def test_the_walked_route_is_the_quickest_that_a_client_can_send_on_its_own() -> None:
    walked = run([])
    walked.baselines = {
        "A2 POST /v1/checkout": {"checkout_completed": 1},
        "A4 POST /v1/work": {},  # no events: not countable
        "A7 POST /v1/impressions": {"cta_impression": 1},  # names a page: not walkable
        "A7 POST /v1/pages": {"page_build_requested": 1},
    }
    walked.walkable = ["A2 POST /v1/checkout", "A4 POST /v1/work", "A7 POST /v1/pages"]
    walked.baseline_ms = {
        "A2 POST /v1/checkout": 90.0,
        "A7 POST /v1/impressions": 1.0,
        "A4 POST /v1/work": 1.0,
        "A7 POST /v1/pages": 8.0,
    }
    assert countable_route(walked) == "A7 POST /v1/pages"
    walked.walkable = ["A4 POST /v1/work"]
    with pytest.raises(NoRouteError):
        countable_route(walked)
