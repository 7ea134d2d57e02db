"""Phase 5 verdicts (ACT-01..06) from one :class:`~secondconf.checks.activation.run.ActivationRun`.

Each rule judges only its own part of the run, so a fault fails exactly its rule: a view
without ``cta_emitted`` is ACT-04's violation, and ACT-06 (the dashboard) judges the
events A8 does hold, listing the missing ones as untested rather than failing for them.
Money is recomputed here from the work's cost (contract §7: billed = cost × 4), never
taken from the target's own ``billed_cents``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from secondconf.checks.activation.run import (
    MARKER,
    TILE_EVENTS,
    ActivationRun,
    Answer,
)
from secondconf.contract.catalog import ContractRule, rule_by_id
from secondconf.contract.traceids import HIGH_VOLUME_RATE
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Verdict
from secondconf.target.a8 import StoredEvent

WORK_MARKUP: Final = 4  # contract §7: billed_cents = cost_cents × 4
TILE_DEADLINE_S: Final = 60.0  # a tile shows its event within 60 s
ACT01, ACT02, ACT03, ACT04, ACT05, ACT06 = (rule_by_id(f"ACT-0{n}") for n in range(1, 7))


def _verdict(
    rule: ContractRule,
    subject: str,
    run: ActivationRun,
    cases: int,
    violations: list[str],
    details: dict[str, Any],
    untested: list[str] | None = None,
) -> Verdict:
    return rule_verdict(
        rule,
        subject,
        cases=cases,
        violations=violations,
        untested=[*run.problems, *(untested or [])],
        details=details,
    )


def _answered(answer: Answer | None) -> bool:
    return answer is not None and answer.status is not None


def _body(answer: Answer | None) -> dict[str, Any]:
    return answer.body if answer is not None and isinstance(answer.body, dict) else {}


def _marker_missing(run: ActivationRun, trace: str) -> bool:
    return not run.held(trace, MARKER)


def judge_activation_once(run: ActivationRun) -> Verdict:
    """ACT-01: of two activations, at most one emits ``activation_first_use``: the first
    when it answered ``first_use``, neither when the student was already active."""
    first, second = run.answers.get("activate_1"), run.answers.get("activate_2")
    if not (_answered(first) and _answered(second)) or first is None or second is None:
        return _verdict(ACT01, "A5", run, 0, [], {}, ["the activations got no answer"])
    first_use = _body(first).get("first_use") is True
    fired = [len(run.held(a.trace_id, "activation_first_use")) for a in (first, second)]
    violations = []
    untested = []
    if first_use and fired[0] != 1:
        violations.append(f"the first use emitted activation_first_use {fired[0]} time(s), not 1")
    if not first_use and fired[0]:
        violations.append("an already active student emitted activation_first_use again")
    if _body(second).get("first_use") is True:
        violations.append("the second activation answered first_use: true")
    if fired[1]:
        violations.append(f"the second activation emitted activation_first_use {fired[1]}x")
    elif _marker_missing(run, second.trace_id):
        untested.append("A8 holds no http_request of the second activation: silence unproven")
    details = {
        "first_use_answered": first_use,
        "activation_first_use_per_call": fired,
        "requests": [first.to_dict(), second.to_dict()],
    }
    return _verdict(ACT01, "A5", run, 2, violations, details, untested)


def judge_credit_decrement(run: ActivationRun) -> Verdict:
    """ACT-02: a spend lowers the balance by the billed amount, cost × 4, and A8's
    ``credit_decrement`` carries that cost and billed amount."""
    spend = run.answers.get("spend")
    body = _body(spend)
    metrics = body.get("finance_metrics") if isinstance(body.get("finance_metrics"), dict) else {}
    cost = metrics.get("cost_cents") if isinstance(metrics, dict) else None
    if spend is None or spend.status != 201 or not isinstance(cost, int):
        status = None if spend is None else spend.status
        return _verdict(ACT02, "A5", run, 0, [], {}, [f"the spend did not succeed ({status})"])
    billed = cost * WORK_MARKUP
    violations = []
    if body.get("credits") != billed:
        violations.append(f"the spend debited {body.get('credits')} credits, not {billed}")
    if run.balance_before is not None and run.balance_after is not None:
        drop = run.balance_before - run.balance_after
        if drop != billed:
            violations.append(f"the balance fell by {drop}, not by cost × 4 = {billed}")
    events = run.held(spend.trace_id, "credit_decrement")
    if len(events) != 1:
        violations.append(f"A8 holds {len(events)} credit_decrement event(s) for the spend, not 1")
    for event in events:
        held = event.raw.get("finance_metrics")
        held = held if isinstance(held, dict) else {}
        if (held.get("cost_cents"), held.get("billed_cents")) != (cost, billed):
            violations.append(
                f"credit_decrement says cost {held.get('cost_cents')}, billed "
                f"{held.get('billed_cents')}; expected {cost} and {billed}"
            )
    details = {
        "cost_cents": cost,
        "expected_billed_cents": billed,
        "credits_debited": body.get("credits"),
        "balance_before": run.balance_before,
        "balance_after": run.balance_after,
        "request": spend.to_dict(),
    }
    return _verdict(ACT02, "A5", run, 1, violations, details)


def judge_pages(run: ActivationRun) -> Verdict:
    """ACT-03: building a page emits ``page_build_requested``, publishing it
    ``page_published`` once; publishing it again emits nothing."""
    steps = (
        ("build", "page_build_requested", 1),
        ("publish", "page_published", 1),
        ("publish_again", "page_published", 0),
    )
    violations, untested, requests = [], [], []
    for step, name, want in steps:
        answer = run.answers.get(step)
        if answer is None:
            untested.append(f"{step}: not sent")
            continue
        requests.append(answer.to_dict())
        got = len(run.held(answer.trace_id, name))
        if got != want:
            violations.append(f"{step}: A8 holds {got} {name} event(s), expected {want}")
        if want == 0 and not got and _marker_missing(run, answer.trace_id):
            untested.append(f"{step}: no http_request of its trace in A8, silence unproven")
    again = _body(run.answers.get("publish_again"))
    if again.get("changed") is True:
        violations.append("publishing a published page answered changed: true")
    cases = len(requests)
    return _verdict(ACT03, "A7", run, cases, violations, {"requests": requests}, untested)


def judge_cta_emitted(run: ActivationRun) -> Verdict:
    """ACT-04: every page view emits one ``cta_emitted`` naming the page and the arm shown."""
    violations = []
    page_id = run.page.page_id if run.page else None
    for trace, arm in run.views:
        events = run.held(trace, "cta_emitted")
        if len(events) != 1:
            violations.append(f"view {trace[:12]}…: {len(events)} cta_emitted event(s), not 1")
            continue
        data = events[0].raw.get("data")
        data = data if isinstance(data, dict) else {}
        if (data.get("page_id"), data.get("arm")) != (page_id, arm):
            violations.append(
                f"view {trace[:12]}…: cta_emitted names page {data.get('page_id')!r} arm "
                f"{data.get('arm')!r}, the view showed {page_id!r} arm {arm!r}"
            )
    details = {"views": [{"trace_id": t, "arm": a} for t, a in run.views]}
    return _verdict(ACT04, "A7", run, len(run.views), violations, details)


def judge_impression_sampling(run: ActivationRun) -> Verdict:
    """ACT-05: A8 holds ``cta_impression`` for exactly the traces sampled in at 10 %,
    each with ``sample_rate`` 0.1."""
    violations = []
    for trace in run.sampled_in:
        events = run.held(trace, "cta_impression")
        if len(events) != 1:
            violations.append(f"sampled-in {trace[:12]}…: {len(events)} cta_impression, not 1")
        violations += [
            f"sampled-in {trace[:12]}…: sample_rate {e.sample_rate}, not {HIGH_VOLUME_RATE}"
            for e in events
            if e.sample_rate != HIGH_VOLUME_RATE
        ]
    for trace in run.sampled_out:
        if events := run.held(trace, "cta_impression"):
            violations.append(f"sampled-out {trace[:12]}…: A8 holds {len(events)} cta_impression")
    details = {"sampled_in": run.sampled_in, "sampled_out": run.sampled_out}
    cases = len(run.sampled_in) + len(run.sampled_out)
    return _verdict(ACT05, "A8", run, cases, violations, details)


def _seconds(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds()


def judge_activation_tile(run: ActivationRun) -> Verdict:
    """ACT-06: every activation or growth event A8 holds from the run is on its tile of
    the activation dashboard within 60 s (A8's receipt minus the event's time, and the
    harness's own sighting minus the moment it sent the request)."""
    violations: list[str] = []
    latencies: list[dict[str, Any]] = []
    held: list[StoredEvent] = [
        e for events in run.events.values() for e in events if e.event in TILE_EVENTS
    ]
    for event in held:
        tiles = run.tiles.get(event.trace_id, {})
        listed = tiles.get(event.event, {}).get("events")
        shown = isinstance(listed, list) and any(
            isinstance(i, dict) and i.get("trace_id") == event.trace_id for i in listed
        )
        seen = run.tile_seen_at.get(event.trace_id)
        sent = run.sent_at.get(event.trace_id)
        a8_s = _seconds(event.received_at, event.timestamp)
        seen_s = _seconds(seen, sent) if seen and sent else None
        latencies.append(
            {"event": event.event, "trace_id": event.trace_id, "a8_s": a8_s, "seen_s": seen_s}
        )
        where = f"{event.event} {event.trace_id[:12]}…"
        if not shown or seen_s is None:
            violations.append(f"{where}: not on the activation tile within the deadline")
        elif max(a8_s, seen_s) > TILE_DEADLINE_S:
            violations.append(f"{where}: on the tile after {max(a8_s, seen_s):.1f} s (> 60 s)")
    names = {e.event for e in held}
    untested = [f"{n}: none in A8 (its own rule judges it)" for n in TILE_EVENTS if n not in names]
    return _verdict(ACT06, "A8", run, len(held), violations, {"latencies": latencies}, untested)


JUDGES: Final[tuple[Callable[[ActivationRun], Verdict], ...]] = (
    judge_activation_once,
    judge_credit_decrement,
    judge_pages,
    judge_cta_emitted,
    judge_impression_sampling,
    judge_activation_tile,
)
