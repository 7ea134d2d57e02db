"""A5's retries and breaker events (§13) and A3's run states and stall (§12), with their faults."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ecosystem.apps.target import Target, eventually

SPEND = {"kind": "explain"}
CEILINGS_MS = [10.0, 20.0, 40.0, 50.0, 50.0]  # min(50, 10 * 2^(n-1)) for retries 1-5


def failed_spend_retries(target: Target) -> list[dict[str, Any]]:
    """One spend while A4 answers 503: the data of its retry_attempted events, in order."""
    target.post("A5", "/v1/activations", {}, target.mutation_headers())
    headers = target.mutation_headers()
    assert target.post("A5", "/v1/credits/spend", SPEND, headers).status_code == 502
    found = target.wait_for_events(headers["X-Trace-Id"], "retry_attempted", count=5)
    return sorted((e["data"] for e in found), key=lambda d: d["attempt"])


@pytest.mark.exclusive
def test_each_retry_emits_its_attempt_delay_and_policy(target: Target) -> None:
    with target.faults("A4", error_503_fraction=1.0):
        retries = failed_spend_retries(target)
    assert [r["attempt"] for r in retries] == [1, 2, 3, 4, 5]
    assert all(r["dependency"] == "A4" and (r["base_ms"], r["cap_ms"]) == (10, 50) for r in retries)
    assert all(0 <= r["delay_ms"] <= c for r, c in zip(retries, CEILINGS_MS, strict=True))
    assert len({r["delay_ms"] for r in retries}) > 1  # jittered


@pytest.mark.exclusive
def test_without_jitter_and_cap_the_delays_are_the_doubling_itself(target: Target) -> None:
    with (
        target.faults("A5", disabled_rules=["retry_jitter", "retry_cap"]),
        target.faults("A4", error_503_fraction=1.0),
    ):
        retries = failed_spend_retries(target)
    assert [r["delay_ms"] for r in retries] == [10.0, 20.0, 40.0, 80.0, 160.0]


def new_run(target: Target, **body: Any) -> tuple[str, str]:
    """A started run's location and trace id."""
    headers = target.mutation_headers()
    answer = target.post("A3", "/v1/runs", {"goal": "g", **body}, headers)
    assert answer.status_code == 201, answer.text
    return answer.headers["location"], headers["X-Trace-Id"]


def run_state(target: Target, location: str) -> dict[str, Any]:
    state: dict[str, Any] = target.get("A3", location, target.auth()).json()
    return state


@pytest.mark.exclusive
def test_a_run_with_no_progress_for_its_stall_limit_stalls(target: Target) -> None:
    with target.faults("A3", disabled_rules=["cycle_progress"]):
        location, trace = new_run(target, cycles=2, cycle_interval_ms=0, stall_limit_s=1)
        assert eventually(lambda: run_state(target, location)["state"] == "stalled", 10.0)
    stalled = target.wait_for_events(trace, "run_stalled")
    assert stalled
    assert stalled[0]["data"]["stall_limit_s"] == 1
    assert run_state(target, location)["cycles_completed"] == 0


@pytest.mark.exclusive
def test_without_auto_heal_a_failed_cycle_fails_the_run(target: Target) -> None:
    with target.faults("A3", disabled_rules=["cycle_auto_heal"]):
        location, trace = new_run(target, cycles=2, cycle_interval_ms=0, fail_attempts=1)
        assert eventually(lambda: run_state(target, location)["state"] == "failed", 10.0)
    assert target.wait_for_events(trace, "cycle_failed")
    assert run_state(target, location)["heals"] == 0


@pytest.mark.exclusive
@pytest.mark.exclusive
def test_autonomous_minutes_stop_at_the_end_and_restart_at_an_intervention(
    target: Target,
) -> None:
    done, trace = new_run(target, cycles=1, cycle_interval_ms=0)
    going, _ = new_run(target, cycles=50, cycle_interval_ms=3_600_000)
    assert eventually(lambda: run_state(target, done)["state"] == "completed", 10.0)
    progress = target.wait_for_events(trace, "run_progress")
    assert progress[0]["data"]["cycle"] == 1
    assert progress[0]["data"]["percent"] > 0
    with target.faults("A3", clock_offset_s=1800.0):
        assert run_state(target, done)["autonomous_minutes"] < 1.0  # ended: no more minutes
        assert run_state(target, going)["autonomous_minutes"] >= 30.0
        note = {"action": "note", "reason": "test"}
        after = target.post("A3", f"{going}/interventions", note, target.mutation_headers())
        assert after.json()["autonomous_minutes"] < 1.0
        assert after.json()["manual_interventions"] == 1
    target.post("A3", f"{going}/interventions", {"action": "abort"}, target.mutation_headers())
    assert run_state(target, going)["state"] == "failed"
