"""Phase 2's parsing and judging of locust's JSON stats, from a saved sample (no locust)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from secondconf.checks.load import baseline
from secondconf.checks.load.baseline import (
    LoadApprovalRequired,
    judge_endpoints,
    judge_latency,
    require_load_approval,
)
from secondconf.checks.load.locust import (
    BaselineError,
    EndpointStats,
    bucket_range,
    build_command,
    parse_locust_json,
    slow_counts,
)
from secondconf.engine.results import CheckRecord, ResultsModel
from secondconf.engine.verdict import Outcome, Reason
from secondconf.reports.baseline import BASELINE_RESULTS, endpoint_verdicts, write_baseline_report
from secondconf.settings import HarnessSettings

from tests.plugin.pytester_helpers import settings_under

# Two entries of a real `locust --json-file` run (20 users, 10 s, a busy machine), with
# the per-second series cut short. Keys of `response_times` are locust's rounded buckets.
SAMPLE = json.loads(
    """[{"name": "A1 /jwks.json", "method": "GET", "last_request_timestamp": 1795672228.44,
"start_time": 1795672219.00, "num_requests": 120, "num_none_requests": 0, "num_failures": 0,
"total_response_time": 9774.41, "max_response_time": 408.74, "min_response_time": 4.05,
"total_content_length": 55440, "response_times": {"31": 3, "42": 1, "60": 1, "26": 1,
"65": 2, "85": 1, "35": 5, "36": 1, "59": 2, "22": 2, "62": 2, "63": 3, "4": 1, "64": 2,
"48": 3, "53": 2, "68": 2, "81": 5, "17": 1, "40": 1, "41": 3, "39": 1, "61": 2, "70": 2,
"21": 1, "28": 1, "75": 3, "11": 1, "15": 2, "24": 1, "43": 1, "27": 1, "29": 1, "67": 3,
"12": 1, "14": 1, "55": 2, "120": 7, "130": 4, "170": 3, "110": 4, "100": 2, "87": 2,
"44": 1, "140": 4, "150": 2, "56": 1, "57": 1, "91": 1, "98": 2, "80": 1, "66": 2, "19": 1,
"30": 1, "84": 2, "190": 2, "250": 1, "99": 3, "77": 1, "260": 1, "410": 1, "360": 1,
"23": 1}, "num_reqs_per_sec": {"1795672219": 12, "1795672220": 16}, "num_fail_per_sec": {}},
{"name": "A5 /ready", "method": "GET", "last_request_timestamp": 1795672228.02,
"start_time": 1795672219.12, "num_requests": 117, "num_none_requests": 0, "num_failures": 0,
"total_response_time": 7054.27, "max_response_time": 198.11, "min_response_time": 5.29,
"total_content_length": 9711, "response_times": {"120": 4, "26": 3, "55": 2, "36": 4,
"37": 2, "10": 3, "57": 3, "58": 3, "35": 3, "51": 2, "52": 2, "25": 6, "30": 2, "48": 3,
"67": 3, "5": 1, "31": 1, "14": 1, "23": 1, "40": 1, "20": 2, "34": 1, "60": 4, "87": 2,
"46": 1, "64": 2, "17": 4, "27": 1, "21": 2, "9": 1, "11": 1, "42": 1, "93": 1, "62": 3,
"63": 2, "76": 2, "32": 2, "33": 1, "110": 4, "140": 3, "56": 3, "100": 4, "28": 1, "59": 2,
"86": 2, "150": 2, "85": 1, "69": 1, "39": 2, "97": 1, "98": 1, "170": 1, "200": 1, "61": 1,
"88": 1, "130": 1, "83": 1, "82": 1}, "num_reqs_per_sec": {"1795672219": 7},
"num_fail_per_sec": {}}]"""
)


def endpoint(
    histogram: dict[int, int], failures: int = 0, name: str = "A2 /health"
) -> EndpointStats:
    n = sum(histogram.values())
    return EndpointStats(name, "GET", n, failures, 0, histogram, max(histogram, default=None))


def test_the_sample_parses_to_exact_per_endpoint_counts_and_locusts_percentiles() -> None:
    parsed = parse_locust_json(SAMPLE)
    assert set(parsed) == {"A1 /jwks.json", "A5 /ready"}
    jwks, ready = parsed["A1 /jwks.json"], parsed["A5 /ready"]
    assert (jwks.num_requests, jwks.num_failures, jwks.timed) == (120, 0, 120)
    assert (ready.num_requests, ready.timed) == (117, 117)
    assert (jwks.app_id, jwks.route) == ("A1", "/jwks.json")
    assert all(isinstance(b, int) for b in jwks.response_times)
    # locust's algorithm: the bucket where fewer than n - int(0.95 n) requests lie above.
    assert jwks.percentile(0.95) == 190
    assert ready.percentile(0.95) == 140
    assert jwks.figures()["max_ms"] == pytest.approx(408.74)


def test_a_histogram_that_does_not_add_up_is_refused() -> None:
    broken: list[dict[str, Any]] = [dict(SAMPLE[0], num_requests=121)]
    with pytest.raises(BaselineError, match="histogram holds 120 timed"):
        parse_locust_json(broken)
    with pytest.raises(BaselineError, match="expected a JSON list"):
        parse_locust_json({"stats": []})
    with pytest.raises(BaselineError, match="not an endpoint entry"):
        parse_locust_json([{"name": "x"}])


def test_buckets_are_intervals_and_the_120_bucket_straddles_the_threshold() -> None:
    assert bucket_range(99) == (98.5, 99.5)
    assert bucket_range(120) == (115.0, 125.0)
    assert bucket_range(1200) == (1150.0, 1250.0)
    assert slow_counts({110: 5, 120: 3, 130: 2}, 120.0) == (2, 5)


def test_rounding_decides_nothing_a_straddling_bucket_is_inconclusive() -> None:
    ready = parse_locust_json(SAMPLE)["A5 /ready"]
    verdict = judge_latency(ready)
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert verdict.reason is Reason.BOUND_STRADDLES
    assert (verdict.details["slow_surely"], verdict.details["slow_possibly"]) == (8, 12)
    assert verdict.estimate == 140
    # 20 of 400 in the 120 bucket: PASS if they were 115 ms, not if they were 125 ms.
    straddling = judge_latency(endpoint({50: 380, 120: 20}))
    assert straddling.outcome is Outcome.INCONCLUSIVE
    assert judge_latency(endpoint({50: 380, 110: 20})).outcome is Outcome.PASS


def test_clearly_slow_fails_and_clearly_fast_passes_with_bucket_edge_bounds() -> None:
    slow = judge_latency(parse_locust_json(SAMPLE)["A1 /jwks.json"])
    assert slow.outcome is Outcome.FAIL
    assert slow.lower is not None
    assert slow.lower > 120
    fast = judge_latency(endpoint({20: 300, 40: 150}))
    assert fast.outcome is Outcome.PASS
    assert fast.upper == 40.5
    assert judge_latency(endpoint({20: 30})).reason is Reason.N_BELOW_MIN


def test_error_rate_per_endpoint_and_a_missing_endpoint_is_no_data() -> None:
    endpoints = {
        "A1 /health": endpoint({20: 450}, name="A1 /health"),
        "A2 /health": endpoint({20: 450}, failures=25, name="A2 /health"),
    }
    verdicts = judge_endpoints(endpoints, ["A1 /health", "A2 /health", "A3 /health"])
    assert verdicts["A1 /health"][0].outcome is Outcome.PASS
    assert verdicts["A2 /health"][0].outcome is Outcome.FAIL
    assert verdicts["A2 /health"][0].details["num_failures"] == 25
    assert [v.reason for v in verdicts["A3 /health"]] == [Reason.NO_DATA, Reason.NO_DATA]
    assert verdicts["A1 /health"][0].check == baseline.ERROR_CHECK
    assert verdicts["A1 /health"][1].check == baseline.LATENCY_CHECK


def test_more_than_60_users_needs_an_approval() -> None:
    require_load_approval(60, hitl_approved=False)
    require_load_approval(61, hitl_approved=True)
    with pytest.raises(LoadApprovalRequired, match="load_over_60_vus"):
        require_load_approval(61, hitl_approved=False)
    with pytest.raises(BaselineError, match="at least 1"):
        require_load_approval(0, hitl_approved=False)


def test_the_command_is_headless_local_and_loopback_bound(tmp_path: Path) -> None:
    command = build_command(
        Path("/x/locust"), Path("/x/f.py"), users=20, spawn_rate=20, duration_s=19.5, out=tmp_path
    )
    assert "--headless" in command
    assert command[command.index("--web-host") + 1] == "127.0.0.1"
    assert command[command.index("--host") + 1] == "https://127.0.0.1"
    assert command[command.index("--run-time") + 1] == "20s"
    assert command[command.index("--json-file") + 1] == str(tmp_path)
    assert not {"--master", "--worker", "--processes", "--autostart"} & set(command)


def settings(tmp_path: Path) -> HarnessSettings:
    return settings_under(tmp_path)


def test_the_report_holds_every_endpoint_with_its_figures_and_verdicts(tmp_path: Path) -> None:
    parsed = parse_locust_json(SAMPLE)
    verdicts = judge_endpoints(parsed, list(parsed))
    marks = {"phase": 2, "app": None, "hitl_gate": None, "tags": ("second_confirmation", "load")}
    record = CheckRecord(
        "suites/test_baseline_load.py::test_baseline_load",
        marks,
        outcome="failed",
        verdicts=[v for pair in verdicts.values() for v in pair],
    )
    model = ResultsModel(checks={record.nodeid: record}, run_info={"baseline": {"users": 20}})
    write_baseline_report(model, settings(tmp_path))
    document = json.loads((tmp_path / "reports" / BASELINE_RESULTS).read_text())
    assert document["run"] == {"users": 20}
    assert document["gate_passed"] is False
    rows = {row["endpoint"]: row for row in document["endpoints"]}
    assert rows["A1 /jwks.json"]["num_requests"] == 120
    assert rows["A1 /jwks.json"]["p95_ms"] == 190
    assert rows["A1 /jwks.json"]["outcome"] == "FAIL"
    assert rows["A5 /ready"]["outcome"] == "INCONCLUSIVE"
    # 117 clean requests cannot show an error rate below 1 % (381 are needed)
    assert endpoint_verdicts(document)["A5 /ready"][0].reason is Reason.N_BELOW_MIN


def test_no_baseline_check_writes_no_report(tmp_path: Path) -> None:
    write_baseline_report(ResultsModel(), settings(tmp_path))
    assert not (tmp_path / "reports").exists()
