"""Phase 3 B2C deliverables: ``b2c_funnel_results.json`` and ``auth_trace_log.json``.

Built from the results model only: the B2C run as the ``b2c_run`` fixture left it in run
info (:data:`B2C_SECTION`, ``FunnelRun.to_dict()``) and the verdicts of the checks marked
``funnel_b2c`` (rates, bounds and latency summaries are the verdicts' own figures, never
recomputed here). The auth trace log holds hosts, paths, statuses, cookie names and
attributes and token claim names: no value of any cookie or token. Nothing is written when
no B2C run happened.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from secondconf.core.files import write_atomic
from secondconf.engine.results import ResultsModel
from secondconf.engine.verdict import Verdict
from secondconf.reports.charts import distribution_chart
from secondconf.settings import HarnessSettings

B2C_SECTION: Final = "b2c_funnel"  # the run_info section the b2c_run fixture fills
B2C_RESULTS: Final = "b2c_funnel_results.json"
AUTH_TRACE_LOG: Final = "auth_trace_log.json"
STEP_CHART: Final = "b2c_funnel_latency.png"
TILE_CHART: Final = "b2c_tile_latency.png"
B2C_TAG: Final = "funnel_b2c"
CHECK_RULES: Final = tuple(f"B2C-{n:02d}" for n in range(5, 14))  # the non-rate checks


def b2c_verdicts(model: ResultsModel) -> list[Verdict]:
    return [
        verdict
        for record in model.checks.values()
        if B2C_TAG in ((record.marks or {}).get("tags") or ())
        for verdict in record.verdicts
    ]


def write_b2c_reports(model: ResultsModel, settings: HarnessSettings) -> None:
    """Write both files atomically under ``reports_dir``, if a B2C run happened."""
    run = model.run_info.get(B2C_SECTION)
    if not isinstance(run, Mapping):
        return
    verdicts = b2c_verdicts(model)
    settings.reports_dir.mkdir(parents=True, exist_ok=True)
    results = b2c_results(run, verdicts)
    write_atomic(
        settings.reports_dir / STEP_CHART,
        distribution_chart(
            _step_samples(results["journeys"]), "B2C: each step's latency", "seconds"
        ),
    )
    write_atomic(
        settings.reports_dir / TILE_CHART,
        distribution_chart(
            results["tile_latency"]["per_step_samples_s"],
            "B2C: from each step's event to A8's funnel-status tile",
            "seconds",
            limit=run.get("tile_deadline_s"),
        ),
    )
    results["charts"] = [STEP_CHART, TILE_CHART]
    write_atomic(settings.reports_dir / B2C_RESULTS, json.dumps(results, indent=2) + "\n")
    write_atomic(
        settings.reports_dir / AUTH_TRACE_LOG, json.dumps(auth_trace_log(run), indent=2) + "\n"
    )


def _step_samples(journeys: Sequence[Mapping[str, Any]]) -> dict[str, list[float]]:
    """Each step's latency over the first attempts that reached it, in funnel order."""
    samples: dict[str, list[float]] = {}
    for journey in journeys:
        if journey.get("attempt") != 1:
            continue
        for step, figures in (journey.get("steps") or {}).items():
            if figures.get("latency_s") is not None:
                samples.setdefault(step, []).append(float(figures["latency_s"]))
    return samples


def _rule(verdicts: Sequence[Verdict], rule_id: str) -> list[Verdict]:
    return [v for v in verdicts if v.details.get("rule") == rule_id]


def _rate(verdict: Verdict) -> dict[str, Any]:
    """A rate verdict as the report states it: on the success rate (1 - failure bounds)."""
    return {
        "attempts": verdict.n,
        "successes": verdict.n - verdict.k,
        "rate": verdict.details.get("success_rate"),
        "lower_bound": None if verdict.upper is None else 1 - verdict.upper,
        "upper_bound": None if verdict.lower is None else 1 - verdict.lower,
        "method": f"{verdict.method} two-sided {1 - verdict.alpha:.0%}",
        "threshold": 1 - verdict.threshold,
        "outcome": verdict.outcome.value,
        "reason": verdict.reason.value,
        "latency_s": verdict.details.get("latency"),
        "violations": list(verdict.details.get("violations", ())),
    }


def _check(verdict: Verdict) -> dict[str, Any]:
    return {
        "rule": verdict.details.get("rule"),
        "check": verdict.check,
        "outcome": verdict.outcome.value,
        "cases": verdict.n,
        "violations": list(verdict.details.get("violations", ())),
        "untested": list(verdict.details.get("untested", ())),
        **{k: verdict.details[k] for k in ("fix",) if k in verdict.details},
    }


def b2c_results(run: Mapping[str, Any], verdicts: Sequence[Verdict]) -> dict[str, Any]:
    journeys = list(run.get("journeys", ()))
    firsts = [j for j in journeys if j.get("attempt") == 1]
    overall = _rule(verdicts, "B2C-01")
    tiles = _rule(verdicts, "B2C-04")
    steps = {v.subject: _rate(v) for v in _rule(verdicts, "B2C-02") + _rule(verdicts, "B2C-03")}
    samples = sorted(
        latency
        for j in firsts
        for latency in (j.get("tile_latency_s") or {}).values()
        if latency is not None
    )
    per_step: dict[str, list[float]] = {}
    for j in firsts:
        for step, latency in (j.get("tile_latency_s") or {}).items():
            if latency is not None:
                per_step.setdefault(step, []).append(latency)
    return {
        "run": {
            "mode": run.get("mode"),
            "started_at": run.get("started_at"),
            "wall_time_s": run.get("wall_time_s"),
            "journeys": len(firsts),
            "retries": len(journeys) - len(firsts),
            "flaky_journeys": run.get("flaky", []),
            "problems": list(run.get("problems", ())),
        },
        "journey_success": _rate(overall[0]) if overall else None,
        "steps": steps,
        "tile_latency": {
            **(tiles[0].details.get("latency", {}) if tiles else {}),
            "deadline_s": run.get("tile_deadline_s"),
            "never_shown": len(tiles[0].details.get("violations", ())) if tiles else None,
            "outcome": tiles[0].outcome.value if tiles else None,
            "samples_s": [round(s, 4) for s in samples],
            "per_step_samples_s": {k: [round(s, 4) for s in v] for k, v in per_step.items()},
        },
        "checks": [_check(v) for rule_id in CHECK_RULES for v in _rule(verdicts, rule_id)],
        "journeys": [_journey(j) for j in journeys],
    }


def _journey(journey: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "index": journey.get("index"),
        "attempt": journey.get("attempt"),
        "username": journey.get("username"),
        "trace_id": journey.get("trace_id"),
        "ok": journey.get("ok"),
        "page_id": journey.get("page_id"),
        "arm": journey.get("arm"),
        "steps": {
            s["step"]: {"ok": s["ok"], "latency_s": s.get("latency_s"), "detail": s.get("detail")}
            for s in journey.get("steps", ())
        },
        "tile_latency_s": journey.get("tile_latency_s"),
        "payment_intent": journey.get("payment_intent"),
        "checkout_status": journey.get("checkout_status"),
        "error": journey.get("error"),
        "evidence": list(journey.get("evidence", ())),
    }


def auth_trace_log(run: Mapping[str, Any]) -> dict[str, Any]:
    """Every auth step of every journey: no value, only names and attributes."""
    return {
        "note": "hosts, paths, statuses, cookie names and attributes, token claim names; "
        "never a cookie or token value",
        "journeys": [
            {
                "index": j.get("index"),
                "attempt": j.get("attempt"),
                "trace_id": j.get("trace_id"),
                "steps": [
                    {
                        "host": a.get("host"),
                        "path": a.get("path"),
                        "method": a.get("method"),
                        "status": a.get("status"),
                        "location": a.get("location"),
                        "cookies": [
                            {"name": c.get("name"), "attributes": c.get("attributes")}
                            for c in a.get("cookies", ())
                        ],
                        "token_claims": list(a.get("token_claims", ())),
                    }
                    for a in j.get("auth", ())
                ],
            }
            for j in run.get("journeys", ())
        ],
    }
