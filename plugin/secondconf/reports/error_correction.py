"""Issue 12's deliverables for error correction and autonomy: ``error_correction_learning.md``
(the figures behind ERR-01..04 and AUT-01..05, and the tests that show each rule can fail)
and the evidence ``a3_autonomy.json`` (A3's run record and A8's events of each cycle, side
by side).

Built from the results model only: every figure is a verdict's own detail, never fetched
again. Nothing is written when no ERR or AUT verdict was recorded (a report is never a
template).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from secondconf.core.files import write_atomic
from secondconf.engine.results import ResultsModel
from secondconf.engine.verdict import Verdict
from secondconf.settings import HarnessSettings

REPORT: Final = "error_correction_learning.md"
EVIDENCE: Final = "a3_autonomy.json"
FAULT_TESTS: Final = "tests/harness/test_error_correction_autonomy_faults.py"
# The reference fault that each rule is shown to catch (FAULT_TESTS), and what it breaks.
CAUGHT: Final = {
    "ERR-01": "`retry_jitter` off (A5): each retry waits its whole ceiling",
    "ERR-02": "`retry_cap` off (A5): the backoff doubles past its cap",
    "ERR-03": "`breaker_opens` off (A5): the breaker counts failures but never opens",
    "ERR-04": "`cycle_auto_heal` off (A3): a failed cycle attempt is not retried",
    "AUT-03": "`cycle_progress` off (A3): cycles stop progressing; the run stalls",
}


def _latest(model: ResultsModel) -> dict[str, tuple[Verdict, float, str]]:
    """rule id -> (its verdict, the check's duration, its node id), for ERR and AUT."""
    found: dict[str, tuple[Verdict, float, str]] = {}
    for record in model.checks.values():
        for verdict in record.verdicts:
            rule = str(verdict.details.get("rule", ""))
            if rule.startswith(("ERR-", "AUT-")):
                found[rule] = (verdict, record.duration_s, record.nodeid)
    return found


def write_error_correction_report(model: ResultsModel, settings: HarnessSettings) -> None:
    """Write ``<reports_dir>/error_correction_learning.md`` and, when an autonomy run was
    judged, ``<evidence_dir>/a3_autonomy.json``, atomically."""
    verdicts = _latest(model)
    if not verdicts:
        return
    write_atomic(settings.reports_dir / REPORT, render(verdicts, settings))
    evidence = autonomy_evidence(verdicts)
    if evidence is not None:
        write_atomic(settings.evidence_dir / EVIDENCE, json.dumps(evidence, indent=2) + "\n")


def autonomy_evidence(verdicts: Mapping[str, tuple[Verdict, float, str]]) -> dict[str, Any] | None:
    """A3's record of the watched run next to A8's events of each of its cycles."""
    if "AUT-01" not in verdicts or "AUT-02" not in verdicts:
        return None
    duration = verdicts["AUT-01"][0].details
    delivery = verdicts["AUT-02"][0].details
    stall = verdicts.get("AUT-03")
    return {
        "a3_run_record": duration.get("record"),
        "a3_run_record_one_step_after_end": duration.get("record_after_end"),
        "a3_records_per_step": duration.get("steps"),
        "a8_events_per_cycle": delivery.get("cycles"),
        "deadline_s": delivery.get("deadline_s"),
        "stall": None if stall is None else stall[0].details,
        "clock_controlled": duration.get("virtual"),
    }


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _figure(value: object, digits: int = 3) -> str:
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def render(verdicts: Mapping[str, tuple[Verdict, float, str]], settings: HarnessSettings) -> str:
    lines = [
        "# Error correction and A3 autonomy",
        "",
        f"Target environment: {settings.env.value}. Each rule below is a verdict of this run;"
        " its figures are the verdict's own.",
        "",
        "| rule | check | outcome | cases | violations / untested |",
        "|---|---|---|---|---|",
    ]
    for rule in sorted(verdicts):
        verdict = verdicts[rule][0]
        problems = [*verdict.details.get("violations", []), *verdict.details.get("untested", [])]
        lines.append(
            f"| {rule} | {_cell(verdict.check)} | {verdict.outcome.value} | {verdict.n} | "
            f"{_cell('; '.join(problems)) or '-'} |"
        )
    lines += _error_sections(verdicts) + _autonomy_sections(verdicts) + _tests_section(verdicts)
    return "\n".join(lines) + "\n"


def _error_sections(verdicts: Mapping[str, tuple[Verdict, float, str]]) -> list[str]:
    lines: list[str] = []
    if "ERR-01" in verdicts:
        verdict, duration, _ = verdicts["ERR-01"]
        ks, cap = verdict.details.get("ks") or {}, verdict.details.get("at_cap") or {}
        lines += [
            "",
            "## Retries while A4 answers 503 (ERR-01, ERR-02)",
            "",
            f"Scenario wall time: {verdict.details.get('wall_s')} s (40 A5 spends released "
            "together, one while the breaker is open, one probe, one healing A3 run; the check "
            f"took {duration:.1f} s with its setup).",
            "",
            f"- Full jitter: KS test of delay / ceiling against U(0, 1) over the retries before "
            f"the cap: D = {_figure(ks.get('statistic'))}, p = {_figure(ks.get('pvalue'))}, "
            f"n = {ks.get('n')} (FAIL below α = {verdict.details.get('alpha')}).",
            f"- Point mass at the cap: {cap.get('exactly_at_cap')} of {cap.get('n')} retries at "
            "the cap waited exactly the cap (FAIL at 5 % or more).",
        ]
    if "ERR-02" in verdicts:
        lines += [
            "",
            "| retry | n | ceiling ms | longest ms | mean ms | at the cap |",
            "|---|---|---|---|---|---|",
        ]
        for row in verdicts["ERR-02"][0].details.get("attempts", []):
            lines.append(
                f"| {row['attempt']} | {row['n']} | {row['ceiling_ms']:g} | "
                f"{row['max_ms']:.3f} | {row['mean_ms']:.3f} | "
                f"{'yes' if row['saturated'] else 'no'} |"
            )
    if "ERR-03" in verdicts:
        details = verdicts["ERR-03"][0].details
        steps = details.get("path", [])
        path = " -> ".join([steps[0][0], *(step[1] for step in steps)]) if steps else ""
        refused, probe = details.get("refused") or {}, details.get("probe") or {}
        lines += [
            "",
            "## Circuit breaker (ERR-03)",
            "",
            f"- Path from A5's events in A8: {path or 'none'}.",
            f"- A call while open: {refused.get('status')}, Retry-After "
            f"{refused.get('retry_after_s')} s, {refused.get('retries')} retries (none reach A4).",
            f"- Probe after the fault was rolled back and A5's clock moved "
            f"{probe.get('clock_moved_s')} s: {probe.get('status')}.",
        ]
    if "ERR-04" in verdicts:
        details = verdicts["ERR-04"][0].details
        run, events = details.get("run") or {}, details.get("events") or {}
        lines += [
            "",
            "## Auto-heal (ERR-04)",
            "",
            f"- A3 run with the first attempt of each cycle failing: state {run.get('state')}, "
            f"{run.get('cycles_completed')} cycles, {run.get('heals')} heals, "
            f"{run.get('escalations')} escalations; A8: {json.dumps(events, sort_keys=True)}.",
        ]
    return lines


def _autonomy_sections(verdicts: Mapping[str, tuple[Verdict, float, str]]) -> list[str]:
    lines: list[str] = []
    if "AUT-01" in verdicts:
        verdict, duration, _ = verdicts["AUT-01"]
        details = verdict.details
        record, after = details.get("record") or {}, details.get("record_after_end") or {}
        how = "under clock control" if details.get("virtual") else "in real time"
        lines += [
            "",
            "## A3's autonomy (AUT-01 … AUT-05)",
            "",
            f"- Run {how}: {record.get('autonomous_minutes')} autonomous minutes of A3's clock "
            f"(required: more than {details.get('required_minutes')}), "
            f"{record.get('cycles_completed')} cycles, state {record.get('state')}, "
            f"{record.get('manual_interventions')} manual interventions; one step after the "
            f"end: {after.get('autonomous_minutes')} minutes. Wall time "
            f"{details.get('wall_s')} s (the check with its setup: {duration:.1f} s).",
        ]
    if "AUT-02" in verdicts:
        details = verdicts["AUT-02"][0].details
        lines += [
            f"- Cycle events in A8: the slowest arrived {details.get('max_latency_s')} s after "
            f"it was stamped (deadline {details.get('deadline_s')} s); per cycle in "
            f"`{EVIDENCE}`.",
        ]
    if "AUT-03" in verdicts:
        details = verdicts["AUT-03"][0].details
        gap = details.get("longest_gap_s")
        limit = details.get("stall_limit_s")
        lines.append(
            f"- Stall watch: longest stretch without run_progress {_figure(gap)} s of A3's clock "
            f"(stall limit {_figure(limit, 6)} s); a stall FAILs AUT-03, which pages "
            "`a3_run_stalled`."
        )
    if "AUT-04" in verdicts:
        details = verdicts["AUT-04"][0].details
        parts = [
            f"{name} {found.get('latency_s')} s"
            for name, found in details.items()
            if isinstance(found, dict) and "latency_s" in found
        ]
        lines.append(f"- Growth events in A8: {', '.join(parts) or 'none'}.")
    if "AUT-05" in verdicts:
        details = verdicts["AUT-05"][0].details
        readings = [
            f"{name} {(details.get(name) or {}).get('minutes')} min "
            f"(expected {_figure((details.get(name) or {}).get('expected'))})"
            for name in ("before", "after", "later")
        ]
        lines.append(f"- Intervention on the reset run: {'; '.join(readings)}.")
    return lines


def _tests_section(verdicts: Mapping[str, tuple[Verdict, float, str]]) -> list[str]:
    nodes = sorted({node for _, _, node in verdicts.values()})
    lines = [
        "",
        "## Tests",
        "",
        "This run's checks: " + ", ".join(f"`{node}`" for node in nodes) + ".",
        "",
        f"Each rule FAILs on its own fault in `{FAULT_TESTS}` (the other rules stay PASS, or"
        " INCONCLUSIVE where a stalled run leaves them unshown):",
        "",
        "| rule | fault |",
        "|---|---|",
    ]
    lines += [f"| {rule} | {fault} |" for rule, fault in CAUGHT.items()]
    lines += [
        "",
        "Commands: `pytest -m second_confirmation suites` (the gate, clock-controlled);",
        "`pytest -m slow suites/test_autonomy.py --autonomy-soak 200m` (the real soak);",
        f"`pytest {FAULT_TESTS}` (the fault tests).",
    ]
    return lines
