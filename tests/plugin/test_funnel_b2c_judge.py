"""The B2C verdicts from a recorded run: the Wilson bound (n >= 35 at zero failures), first
attempts only with flaky retries, each seed fix named, tiles, money and cleanup; the reports
carry the verdicts' figures and no secret."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from secondconf.checks.funnels.diagnosis import FIXES
from secondconf.checks.funnels.judge import judge_funnel, judge_named
from secondconf.checks.funnels.model import (
    STEPS,
    AuthStep,
    Cleanup,
    FunnelRun,
    Journey,
    PaymentCheck,
    StepResult,
)
from secondconf.checks.funnels.tiles import lineage_items, revenue_totals, steps_shown
from secondconf.engine.results import CheckRecord, ResultsModel
from secondconf.engine.verdict import Outcome, Verdict
from secondconf.reports.funnels import B2C_SECTION, write_b2c_reports
from secondconf.target.map import BrowserLogin

from tests.plugin.pytester_helpers import settings_under

LOGIN = BrowserLogin(
    client_id="student-web", redirect_uri="https://a5.test/auth/callback", session_ttl_s=3600
)
COOKIE = {
    "name": "a1_session",
    "attributes": {
        "max-age": "3600",
        "path": "/",
        "secure": None,
        "httponly": None,
        "samesite": "None",
    },
}
COOKIE_VALUE = "s3cr3t-cookie-value"


def journey(index: int, attempt: int = 1, **changes: Any) -> Journey:
    auth = (AuthStep("a1.test", "/oauth/authorize", "POST", 303, LOGIN.redirect_uri, (COOKIE,)),)
    steps = tuple(StepResult(step, True, 0.2, 10.0 + index, 200) for step in STEPS)
    base = Journey(
        index=index,
        attempt=attempt,
        username=f"test_student_e2e_{10 + index}",
        trace_id=f"{index:032x}",
        steps=steps,
        auth=auth,
        page_id="p1",
        arm="a",
        payment_intent=f"pi_{index}",
        checkout_status="succeeded",
        tile_latency_s=dict.fromkeys(STEPS, 0.3),
    )
    return dataclasses.replace(base, **changes)


def revenue(real: int, synthetic: int) -> dict[str, Any]:
    def tile(name: str, cents: int) -> dict[str, Any]:
        return {"tile": name, "totals": {"usd": {"gross_cents": cents, "settlements": cents // 50}}}

    return {"answer": {"tiles": [tile("real_revenue", real), tile("synthetic_revenue", synthetic)]}}


def run_of(journeys: list[Journey], **changes: Any) -> FunnelRun:
    paid = [j for j in journeys if j.payment_intent]
    base = FunnelRun(
        mode="rate",
        started_at="2026-12-03T15:00:00Z",
        wall_time_s=40.0,
        tile_deadline_s=60.0,
        journeys=tuple(journeys),
        revenue_before=revenue(1000, 500),
        revenue_after=revenue(1000, 500 + 50 * len(paid)),
        lineage=tuple(
            {
                "trace_id": j.trace_id,
                "synthetic": True,
                "counted": True,
                "gross_cents": 50,
                "problems": [],
            }
            for j in paid
        ),
        payments=tuple(
            PaymentCheck(j.payment_intent or "", j.trace_id, 50, "usd", "succeeded", {})
            for j in paid
        ),
        header_probes=(
            {"app": "A3", "route": "POST /v1/attributions", "without": "both", "status": 428},
        ),
        cleanup=tuple(Cleanup(j.username, 204, 404) for j in journeys if j.attempt == 1),
    )
    return dataclasses.replace(base, **changes)


def by_rule(verdicts: list[Verdict]) -> dict[str, list[Verdict]]:
    found: dict[str, list[Verdict]] = {}
    for verdict in verdicts:
        found.setdefault(verdict.details["rule"], []).append(verdict)
    return found


def test_35_clean_journeys_pass_every_rule_and_34_cannot() -> None:
    verdicts = judge_funnel(run_of([journey(i) for i in range(35)]), LOGIN)
    rules = by_rule(verdicts)
    assert sorted(rules) == [f"B2C-{n:02d}" for n in range(1, 13)]
    assert all(v.outcome is Outcome.PASS for v in verdicts), [v.summary() for v in verdicts]
    overall = rules["B2C-01"][0]
    assert overall.details["success_lower_bound"] == pytest.approx(0.9011, abs=1e-4)
    assert [v.subject for v in rules["B2C-02"]] == [s for s in STEPS if s != "b2c.checkout"]
    short = by_rule(judge_funnel(run_of([journey(i) for i in range(34)]), LOGIN))["B2C-01"][0]
    assert short.outcome is Outcome.INCONCLUSIVE
    assert short.details["min_n_for_pass"] == 35


def test_the_browser_part_of_a_journey_is_done_before_a8_shows_its_attribution() -> None:
    walked = journey(0, steps=tuple(s for s in journey(0).steps if s.step != "b2c.attribution"))
    assert walked.browser_ok
    assert not walked.ok  # the attribution step is only judged from A8
    assert walked.first_failed_step == "b2c.attribution"
    assert not dataclasses.replace(walked, error="TimeoutError: page.goto").browser_ok


def test_a_journey_passing_on_retry_is_flaky_and_still_a_failure() -> None:
    failed = journey(3, steps=(StepResult("b2c.landing", False, detail="no a#cta on the page"),))
    journeys = [journey(i) for i in range(35) if i != 3] + [failed, journey(3, attempt=2)]
    overall = by_rule(judge_funnel(run_of(journeys), LOGIN))["B2C-01"][0]
    assert overall.details["flaky"] == [3]
    assert (overall.n, overall.k) == (35, 1)
    assert overall.outcome is not Outcome.PASS
    assert "journey 3 (test_student_e2e_13): b2c.landing failed" in overall.details["violations"][0]


def test_a_tile_never_shown_fails_b2c04_and_the_journey() -> None:
    late = journey(0, tile_latency_s={**dict.fromkeys(STEPS, 0.3), "b2c.checkout": None})
    rules = by_rule(judge_funnel(run_of([late, *(journey(i) for i in range(1, 35))]), LOGIN))
    assert rules["B2C-04"][0].outcome is Outcome.FAIL
    assert rules["B2C-04"][0].details["violations"] == [
        "journey 0: b2c.checkout not on funnel-status within 60 s"
    ]
    assert rules["B2C-01"][0].k == 1


def cookie_with(**attributes: Any) -> dict[str, Any]:
    return {"name": "a1_session", "attributes": {**COOKIE["attributes"], **attributes}}


def with_cookie(cookie: dict[str, Any]) -> Journey:
    post = AuthStep("a1.test", "/oauth/authorize", "POST", 303, LOGIN.redirect_uri, (cookie,))
    return journey(0, auth=(post,))


FIX_CASES = {
    "headers": ("B2C-07", {"header_probes": ({"app": "A2", "route": "POST /checkout/pay",
                                              "without": "both", "status": 402},)}, None),
    "cookie attributes": ("B2C-08", {}, with_cookie({"name": "a1_session",
                                                     "attributes": {"max-age": "3600"}})),
    "ttl": ("B2C-09", {}, with_cookie(cookie_with(**{"max-age": "60"}))),
    "domain": ("B2C-09", {}, with_cookie(cookie_with(domain="evil.test"))),
    "redirect": ("B2C-10", {}, journey(0, auth=(AuthStep("a1.test", "/oauth/authorize", "POST",
                                                         303, "https://a5.test/other",
                                                         (COOKIE,)),))),
    "attribution": ("B2C-11", {}, journey(0, steps=tuple(
        StepResult(s, s != "b2c.attribution", 0.2, 10.0, 200, "names page/arm (None, None)")
        for s in STEPS))),
}  # fmt: skip


@pytest.mark.parametrize(("rule_id", "changes", "broken"), FIX_CASES.values(), ids=FIX_CASES)
def test_each_fix_check_fails_and_names_its_fix(
    rule_id: str, changes: dict[str, Any], broken: Journey | None
) -> None:
    journeys = [journey(i) for i in range(1, 35)] + ([broken] if broken else [journey(0)])
    verdicts = judge_funnel(run_of(journeys, **changes), LOGIN)
    rules = by_rule(verdicts)
    assert rules[rule_id][0].outcome is Outcome.FAIL
    assert rules[rule_id][0].details["fix"] == FIXES[rule_id]
    assert any(line.startswith(rule_id) for line in rules["B2C-01"][0].details["fixes_needed"])
    others = [r for r in FIXES if r != rule_id]
    assert all(rules[r][0].outcome is Outcome.PASS for r in others)


def test_a_synthetic_charge_counted_as_real_fails_the_exclusions() -> None:
    journeys = [journey(i) for i in range(35)]
    run = run_of(journeys, revenue_after=revenue(1050, 500 + 50 * 34))
    lineage = list(run.lineage)
    lineage[0] = {**lineage[0], "synthetic": False}
    verdict = by_rule(judge_funnel(dataclasses.replace(run, lineage=tuple(lineage)), LOGIN))[
        "B2C-05"
    ][0]
    assert verdict.outcome is Outcome.FAIL
    assert (
        "real revenue moved: 1000 -> 1050 cents (20 -> 21 settlements)"
        in verdict.details["violations"]
    )
    assert "journey 0: its settlement is counted as real" in verdict.details["violations"]


def test_a_payment_that_disagrees_with_stripe_fails_b2c06_and_a_leftover_fails_b2c12() -> None:
    journeys = [journey(i) for i in range(35)]
    run = run_of(journeys)
    payments = list(run.payments)
    payments[0] = dataclasses.replace(payments[0], problems=("status 'requires_payment_method'",))
    cleanup = list(run.cleanup)
    cleanup[0] = Cleanup(cleanup[0].subject, 204, 200, {"A2": 1})
    rules = by_rule(
        judge_funnel(
            dataclasses.replace(run, payments=tuple(payments), cleanup=tuple(cleanup)), LOGIN
        )
    )
    assert rules["B2C-06"][0].outcome is Outcome.FAIL
    assert rules["B2C-12"][0].details["violations"] == [
        "test_student_e2e_10: DELETE 204, GET 200, still owned {'A2': 1}"
    ]


def test_a_named_run_is_judged_journey_by_journey_without_a_rate() -> None:
    run = run_of([journey(0), journey(1)], mode="named", cleanup=())
    verdict = judge_named(run)
    assert verdict.details["rule"] == "B2C-13"
    assert verdict.outcome is Outcome.PASS
    assert verdict.details["rate"] is None
    assert verdict.n == 2


def test_tiles_are_read_by_step_or_event_for_this_trace_only() -> None:
    answer = {
        "tiles": [
            {"tile": "b2c_journey", "trace_id": "t1", "steps": [
                {"step": "b2c.landing", "event": "cta_emitted", "received_at": "x"},
                {"step": "b2c.signup", "event": "identity_ok", "received_at": None},
            ]},
            {"tile": "other", "trace_id": "t2", "steps": [
                {"event": "checkout_completed", "received_at": "y"}]},
            {"tile": "loose", "items": [{"event": "activation_first_use", "received_at": "z"}]},
        ]
    }  # fmt: skip
    assert sorted(steps_shown(answer, "t1")) == ["b2c.activation", "b2c.landing"]
    lineage = {"tiles": [{"tile": "lineage", "items": [
        {"settlement": {"trace_id": "t1"}, "synthetic": True, "gross_cents": 50},
        {"settlement": {"trace_id": "t9"}, "synthetic": True, "gross_cents": 50}]}]}  # fmt: skip
    assert [i["trace_id"] for i in lineage_items(lineage, {"t1"})] == ["t1"]
    assert revenue_totals(revenue(100, 250)["answer"]) == {
        "real_cents": 100, "real_settlements": 2, "synthetic_cents": 250,
        "synthetic_settlements": 5,
    }  # fmt: skip


def test_the_reports_carry_the_verdicts_figures_and_no_value(tmp_path: Path) -> None:
    journeys = [journey(i) for i in range(35)]
    run = run_of(journeys)
    verdicts = judge_funnel(run, LOGIN)
    model = ResultsModel()
    model.checks["suites/test_funnel_b2c.py::test_b2c_funnel"] = CheckRecord(
        nodeid="suites/test_funnel_b2c.py::test_b2c_funnel",
        marks={"tags": ["second_confirmation", "funnel_b2c"]},
        verdicts=verdicts,
    )
    model.run_info[B2C_SECTION] = run.to_dict()
    settings = settings_under(tmp_path)
    write_b2c_reports(model, settings)
    results = json.loads((settings.reports_dir / "b2c_funnel_results.json").read_text())
    assert results["journey_success"]["attempts"] == 35
    assert results["journey_success"]["lower_bound"] == pytest.approx(0.9011, abs=1e-4)
    assert results["journey_success"]["outcome"] == "PASS"
    assert set(results["steps"]) == set(STEPS)
    assert results["tile_latency"]["p95_s"] == 0.3
    assert len(results["tile_latency"]["samples_s"]) == 35 * len(STEPS)
    assert results["charts"] == ["b2c_funnel_latency.png", "b2c_tile_latency.png"]
    for chart in results["charts"]:
        assert (settings.reports_dir / chart).read_bytes().startswith(b"\x89PNG")
    log = (settings.reports_dir / "auth_trace_log.json").read_text()
    first = json.loads(log)["journeys"][0]["steps"][0]
    assert first["cookies"][0]["name"] == "a1_session"
    assert first["cookies"][0]["attributes"]["samesite"] == "None"
    assert COOKIE_VALUE not in log


def test_nothing_is_written_without_a_b2c_run(tmp_path: Path) -> None:
    settings = settings_under(tmp_path)
    write_b2c_reports(ResultsModel(), settings)
    assert not (settings.reports_dir / "b2c_funnel_results.json").exists()
