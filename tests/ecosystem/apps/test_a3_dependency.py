"""A3 under A4's faults (contract §13): each cycle attempt asks A4, a failed one is retried
until A4 answers (the cycle heals), and a cycle that only A4 failed does not fail the run."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ecosystem.apps.target import Target, eventually


def new_run(target: Target, **body: Any) -> str:
    answer = target.post("A3", "/v1/runs", {"goal": "g", **body}, target.mutation_headers())
    assert answer.status_code == 201, answer.text
    return str(answer.headers["location"])


def run_state(target: Target, location: str) -> dict[str, Any]:
    state: dict[str, Any] = target.get("A3", location, target.auth()).json()
    return state


def ended(target: Target, location: str) -> bool:
    return run_state(target, location)["state"] != "running"


@pytest.mark.exclusive
def test_with_half_of_a4_failing_every_cycle_heals_and_the_run_completes(target: Target) -> None:
    with target.faults("A4", error_503_fraction=0.5):
        location = new_run(target, cycles=12, cycle_interval_ms=0)
        assert eventually(lambda: ended(target, location), 30.0)
    state = run_state(target, location)
    assert state["state"] == "completed"
    assert state["cycles_succeeded"] + state["cycles_failed"] == 12
    # A cycle fails only if all 8 attempts meet a 503: 1/256 each, so at most one of the
    # twelve (two: about 1 in 1,000); none heals only if no first call fails (1 in 4,096).
    assert state["cycles_failed"] <= 1
    assert state["heals"] >= 1
    assert state["manual_interventions"] == 0


@pytest.mark.exclusive
def test_a_cycle_that_only_a4_failed_does_not_fail_the_run(target: Target) -> None:
    with (
        target.faults("A3", disabled_rules=["cycle_auto_heal"]),
        target.faults("A4", error_503_fraction=1.0),
    ):
        location = new_run(target, cycles=3, cycle_interval_ms=0)
        assert eventually(lambda: ended(target, location), 20.0)
    state = run_state(target, location)
    assert state["state"] == "completed"  # not "failed": the run went on, cycle after cycle
    assert (state["cycles_failed"], state["heals"], state["escalations"]) == (3, 0, 3)
