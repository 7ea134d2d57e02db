"""AUT-01 … AUT-05 from one :class:`AutonomyRun` (pure functions, no I/O).

* AUT-01: the watched run completed every cycle with no manual intervention, ran more than
  the plan's minutes (200 in the gate) of A3's clock, and its count stopped when it ended.
  A run that stalled has not shown it either way: INCONCLUSIVE, AUT-03 judges the stall.
* AUT-02: for every completed cycle A8 holds a ``run_progress`` with ``data.percent`` > 0
  and an ``orchestration_cycle_complete``, each received within the deadline (60 s) of
  the real moment it was stamped (its timestamp less A3's clock offset at that moment).
* AUT-03: a stall is detected when A3 reports the run ``stalled``, when A8 holds its
  ``run_stalled``, or when the harness sees no ``run_progress`` for longer than the run's
  stall limit of A3's clock. Detected means FAIL: the rule pages (``a3_run_stalled``).
* AUT-04: ``page_published`` and ``cta_emitted`` of a page of the check's own reach A8
  within the deadline.
* AUT-05: an intervention on the reset run restarts its autonomous minutes: before it,
  the minutes agree with the time since the run started; right after, with zero; later,
  with the time since the intervention (each within half a minute).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any, Final

from secondconf.checks.autonomy.model import AutonomyRun
from secondconf.contract.catalog import rule_by_id
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Verdict

SUBJECT: Final = "A3"
MINUTES_STOPPED: Final = 0.1  # minutes an ended run may still gain (rounding)
MINUTES_TOLERANCE: Final = 0.5


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def judge_duration(run: AutonomyRun) -> Verdict:
    """AUT-01."""
    plan, record, after = run.autonomy_plan, run.record, run.record_after_end
    violations: list[str] = []
    untested: list[str] = list(run.untested)
    minutes = record.get("autonomous_minutes")
    details = {
        "record": record,
        "record_after_end": after,
        "required_minutes": plan.required_minutes,
        "virtual": run.virtual,
        "wall_s": run.wall_s,
        "steps": [asdict(step) for step in run.steps],  # A3's record after each step
    }
    if not record or record.get("state") == "stalled":
        untested.append(
            f"the run stalled after {minutes} minutes of its clock (AUT-03)"
            if record
            else "A3 gave no record of the run"
        )
        return rule_verdict(
            rule_by_id("AUT-01"),
            SUBJECT,
            cases=0,
            violations=[],
            untested=untested,
            details=details,
        )
    if record.get("manual_interventions"):
        violations.append(f"{record['manual_interventions']} manual intervention(s) on the run")
    if record.get("state") != "completed":
        violations.append(f"the run is {record.get('state')!r}, not completed")
    if record.get("cycles_completed") != plan.cycles:
        violations.append(f"{record.get('cycles_completed')} of {plan.cycles} cycles completed")
    if not isinstance(minutes, int | float) or minutes <= plan.required_minutes:
        violations.append(f"{minutes} autonomous minutes, not more than {plan.required_minutes:g}")
    later = None if after is None else after.get("autonomous_minutes")
    if isinstance(minutes, int | float) and isinstance(later, int | float):
        if later - minutes > MINUTES_STOPPED:
            violations.append(
                f"the count went on after the run ended: {minutes} then {later} minutes"
            )
    elif record.get("state") == "completed":
        untested.append("the run was not read again after it ended")
    return rule_verdict(
        rule_by_id("AUT-01"),
        SUBJECT,
        cases=1,
        violations=violations,
        untested=untested,
        details=details,
    )


def cycle_rows(run: AutonomyRun) -> list[dict[str, Any]]:
    """Per completed cycle, its events in A8 with their delivery latency (the evidence)."""
    count = run.record.get("cycles_completed")
    cycles = count if isinstance(count, int) else 0
    rows: list[dict[str, Any]] = []
    for cycle in range(1, cycles + 1):
        row: dict[str, Any] = {"cycle": cycle}
        for name in ("run_progress", "orchestration_cycle_complete"):
            row[name] = [
                _delivery(run, event)
                for event in run.events
                if event.get("event") == name and _data(event).get("cycle") == cycle
            ]
        rows.append(row)
    return rows


def _data(event: Mapping[str, Any]) -> Mapping[str, Any]:
    data = event.get("data")
    return data if isinstance(data, dict) else {}


def _delivery(run: AutonomyRun, event: Mapping[str, Any]) -> dict[str, Any]:
    stamped = _time(str(event["timestamp"]))
    offset = run.offset_at(stamped)
    latency = (_time(str(event["received_at"])) - stamped).total_seconds() + offset
    return {
        "timestamp": event["timestamp"],
        "received_at": event["received_at"],
        "clock_offset_s": offset,
        "latency_s": round(latency, 3),
        "percent": _data(event).get("percent"),
    }


def judge_delivery(run: AutonomyRun, deadline_s: float) -> Verdict:
    """AUT-02."""
    rows = cycle_rows(run)
    violations: list[str] = []
    for row in rows:
        progress, complete = row["run_progress"], row["orchestration_cycle_complete"]
        if not any(isinstance(p["percent"], int | float) and p["percent"] > 0 for p in progress):
            violations.append(f"cycle {row['cycle']}: no run_progress with percent > 0 in A8")
        if not complete:
            violations.append(f"cycle {row['cycle']}: no orchestration_cycle_complete in A8")
        late = [d for d in progress + complete if d["latency_s"] > deadline_s]
        if late:
            worst = max(d["latency_s"] for d in late)
            violations.append(
                f"cycle {row['cycle']}: {len(late)} event(s) later than {deadline_s:g} s "
                f"(worst {worst:g} s)"
            )
    for event in run.events:
        percent = _data(event).get("percent")
        if event.get("event") == "run_progress" and not (
            isinstance(percent, int | float) and percent > 0
        ):
            violations.append(f"a run_progress at {event.get('timestamp')} has percent {percent!r}")
    latencies = [
        d["latency_s"]
        for row in rows
        for d in row["run_progress"] + row["orchestration_cycle_complete"]
    ]
    return rule_verdict(
        rule_by_id("AUT-02"),
        SUBJECT,
        cases=2 * len(rows),
        violations=violations,
        untested=[] if rows else [*run.untested, "no cycle of the run completed"],
        details={
            "deadline_s": deadline_s,
            "max_latency_s": max(latencies, default=None),
            "cycles": rows,
        },
    )


def judge_stall(run: AutonomyRun) -> Verdict:
    """AUT-03 (FAIL = a stalled run detected, which pages a human)."""
    record = run.record
    if not record:
        return rule_verdict(
            rule_by_id("AUT-03"),
            SUBJECT,
            cases=0,
            violations=[],
            untested=[*run.untested, "A3 gave no record of the run"],
        )
    limit = float(record.get("stall_limit_s") or 0.0)
    marks = [_time(str(record["started_at"]))] if record.get("started_at") else []
    marks += sorted(
        _time(str(e["timestamp"])) for e in run.events if e.get("event") == "run_progress"
    )
    if record.get("ended_at"):
        marks.append(_time(str(record["ended_at"])))
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(marks)]
    longest = max(gaps, default=0.0)
    signs: list[str] = []
    if record.get("state") == "stalled":
        signs.append(f"A3 reports the run stalled (last progress {record.get('last_progress_at')})")
    stalled_events = [e for e in run.events if e.get("event") == "run_stalled"]
    if stalled_events:
        signs.append(f"A8 holds run_stalled stamped {stalled_events[0].get('timestamp')}")
    if limit and longest > limit:
        signs.append(
            f"no run_progress for {longest / 60:.0f} min of A3's clock "
            f"(its stall limit is {limit / 60:.0f} min)"
        )
        if not stalled_events:
            signs.append("A3 sent no run_stalled")
    violations = [f"run {run.run_id} stalled: " + "; ".join(signs)] if signs else []
    return rule_verdict(
        rule_by_id("AUT-03"),
        SUBJECT,
        cases=1,
        violations=violations,
        details={"stall_limit_s": limit, "longest_gap_s": longest, "state": record.get("state")},
    )


def judge_growth(run: AutonomyRun, deadline_s: float) -> Verdict:
    """AUT-04."""
    violations: list[str] = []
    untested = [str(run.growth["untested"])] if "untested" in run.growth else []
    cases = 0
    for name in ("page_published", "cta_emitted"):
        found = run.growth.get(name)
        if not isinstance(found, dict):
            continue
        cases += 1
        latency = found.get("latency_s")
        if latency is None:
            violations.append(
                f"{name} not in A8 within {deadline_s:g} s "
                f"(the request answered {found.get('status')})"
            )
        elif latency > deadline_s:
            violations.append(f"{name} reached A8 after {latency:g} s, over {deadline_s:g} s")
    return rule_verdict(
        rule_by_id("AUT-04"),
        "A7",
        cases=cases,
        violations=violations,
        untested=untested,
        details=run.growth,
    )


def judge_reset(run: AutonomyRun) -> Verdict:
    """AUT-05."""
    readings = run.reset
    violations: list[str] = []
    cases = 0
    for name in ("before", "after", "later"):
        reading = readings.get(name)
        if not isinstance(reading, dict):
            continue
        cases += 1
        minutes, expected = reading.get("minutes"), reading.get("expected")
        if (
            not isinstance(minutes, int | float)
            or abs(minutes - float(expected or 0.0)) > MINUTES_TOLERANCE
        ):
            violations.append(
                f"{name} the intervention: {minutes} autonomous minutes, "
                f"expected {float(expected or 0.0):.2f}"
            )
    after = readings.get("after")
    if isinstance(after, dict) and after.get("manual_interventions") != 1:
        violations.append(f"A3 counts {after.get('manual_interventions')} interventions, not 1")
    untested = (
        [] if cases == 3 else [*run.untested, f"{3 - cases} of 3 readings of the reset run missing"]
    )
    return rule_verdict(
        rule_by_id("AUT-05"),
        SUBJECT,
        cases=cases,
        violations=violations,
        untested=untested,
        details=readings,
    )


def judge_autonomy(run: AutonomyRun, deadline_s: float) -> list[Verdict]:
    """The five verdicts, in rule order."""
    return [
        judge_duration(run),
        judge_delivery(run, deadline_s),
        judge_stall(run),
        judge_growth(run, deadline_s),
        judge_reset(run),
    ]
