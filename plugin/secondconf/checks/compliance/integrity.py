"""INT-01 and INT-02: academic integrity (contract §14), through A5's spend and at A4.

INT-01: work meant to be handed in as the student's own graded work (exam answers, a
graded essay) is refused with 422 problem+json whose ``type`` ends ``academic-integrity``,
with no charge (A4 records no work item), no credit spent (A5's balance unchanged) and no
``credit_decrement``. INT-02: study help (an explanation for an exam) is still done and
charged, and its ``credit_decrement`` reaches A8.

Absence in A8 is proved without sleeping: the study-help spend is sent *after* the
refused ones, by the same student through the same app, and its ``credit_decrement`` is
awaited (bounded); A5 sends its events in order, so once it is in A8 a decrement of an
earlier refused spend would be there too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from secondconf.checks.compliance.actor import (
    BALANCE,
    EVENT_DEADLINE_S,
    SPEND,
    WORK,
    Actor,
    event_arrives,
    refusal_problems,
    status,
    work_example,
)
from secondconf.contract.catalog import rule_by_id
from secondconf.contract.platform import SyntheticIdentity
from secondconf.contract.traceids import new_sampled_in_trace_id
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Verdict
from secondconf.target.a8 import A8Client, TelemetryError
from secondconf.target.json_answer import json_body

INT_01: Final = rule_by_id("INT-01")
INT_02: Final = rule_by_id("INT-02")
STUDENT: Final = SyntheticIdentity.STUDENT.value
REFUSAL_SUFFIX: Final = "academic-integrity"
GRADED_WORK: Final = (
    "Write my exam answers for tomorrow's chemistry final so I can hand them in.",
    "Write my graded essay on Hamlet, 1500 words, that I will submit as my own.",
)
STUDY_HELP: Final = "Explain photosynthesis step by step so I can study for my exam."


@dataclass
class IntegrityRun:
    """The cases of both rules: what was sent, what broke each rule, what could not run."""

    refusals: list[str] = field(default_factory=list)  # INT-01 cases, one line each
    refusal_violations: list[str] = field(default_factory=list)
    refused_traces: list[str] = field(default_factory=list)
    help_cases: list[str] = field(default_factory=list)
    help_violations: list[str] = field(default_factory=list)
    untested: list[str] = field(default_factory=list)


async def _balance(actor: Actor) -> int | None:
    body = json_body(await actor.send("GET", BALANCE, STUDENT))
    value = body.get("balance") if isinstance(body, dict) else None
    return value if isinstance(value, int) else None


async def _work_ids(actor: Actor) -> set[str] | None:
    body = json_body(await actor.send("GET", WORK, STUDENT))
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return None
    return {str(item.get("id")) for item in items if isinstance(item, dict)}


async def _refuse_through_a5(actor: Actor, example: dict[str, Any], run: IntegrityRun) -> None:
    before, items_before = await _balance(actor), await _work_ids(actor)
    if before is None or items_before is None:
        run.untested.append("A5 balance or A4 work list unreadable: INT-01 through A5 not run")
        return
    for prompt in GRADED_WORK:
        label = f"A5 spend of graded work ({prompt.split(',')[0][:40]}…)"
        trace = new_sampled_in_trace_id(0.1)
        answer = await actor.send(
            "POST", SPEND, STUDENT, body={**example, "prompt": prompt}, trace_id=trace
        )
        run.refusals.append(label)
        run.refused_traces.append(trace)
        run.refusal_violations.extend(refusal_problems(label, answer, 422, REFUSAL_SUFFIX))
        after, items_after = await _balance(actor), await _work_ids(actor)
        if after != before:
            run.refusal_violations.append(f"{label}: the balance went from {before} to {after}")
        if items_after is not None and items_after - items_before:
            run.refusal_violations.append(f"{label}: A4 recorded (and billed) a work item")
        before, items_before = after, items_after or items_before


async def _refuse_at_a4(actor: Actor, example: dict[str, Any], run: IntegrityRun) -> None:
    for prompt in GRADED_WORK:
        label = f"A4 work on graded work ({prompt.split(',')[0][:40]}…)"
        items_before = await _work_ids(actor)
        answer = await actor.send("POST", WORK, STUDENT, body={**example, "prompt": prompt})
        run.refusals.append(label)
        run.refusal_violations.extend(refusal_problems(label, answer, 422, REFUSAL_SUFFIX))
        items_after = await _work_ids(actor)
        if items_before is not None and items_after is not None and items_after - items_before:
            run.refusal_violations.append(f"{label}: A4 recorded (and billed) a work item")


async def _study_help(
    actor: Actor, a8: A8Client, example: dict[str, Any], run: IntegrityRun
) -> None:
    before = await _balance(actor)
    trace = new_sampled_in_trace_id(0.1)
    label = "A5 spend on study help"
    answer = await actor.send(
        "POST", SPEND, STUDENT, body={**example, "prompt": STUDY_HELP}, trace_id=trace
    )
    run.help_cases.append(label)
    if answer is not None and answer.status_code == 402:
        run.untested.append(f"{label}: the student's balance is too low (402)")
        return
    if answer is None or answer.status_code != 201:
        run.help_violations.append(f"{label}: answered {status(answer)}, not 201")
        return
    after = await _balance(actor)
    if before is not None and after is not None and not after < before:
        run.help_violations.append(f"{label}: the balance did not go down ({before} -> {after})")
    direct = await actor.send("POST", WORK, STUDENT, body={**example, "prompt": STUDY_HELP})
    run.help_cases.append("A4 work on study help")
    if direct is None or direct.status_code != 201:
        run.help_violations.append(f"A4 work on study help: answered {status(direct)}, not 201")
    await _judge_events(a8, trace, run)


async def _judge_events(a8: A8Client, help_trace: str, run: IntegrityRun) -> None:
    """The study help's credit_decrement arrives; none of a refused spend's ever does."""
    try:
        if not await event_arrives(a8, help_trace, "credit_decrement"):
            run.help_violations.append(
                f"A8 held no credit_decrement of the study help within {EVENT_DEADLINE_S} s"
            )
            return
        for trace in run.refused_traces:
            held = await a8.raw_events(trace_id=trace, event="credit_decrement")
            if held.items:
                run.refusal_violations.append(
                    f"a refused spend (trace {trace}) caused {len(held.items)} credit_decrement"
                )
    except TelemetryError as error:
        run.untested.append(f"A8 not read: {error}")


async def run_integrity(actor: Actor, a8: A8Client) -> IntegrityRun:
    """Every case of INT-01 and INT-02, as the synthetic student."""
    run = IntegrityRun()
    example = await work_example(actor)
    if example is None:
        run.untested.extend(actor.problems)
        return run
    await actor.send("POST", ("A5", "/v1/activations"), STUDENT, body={})
    await _refuse_through_a5(actor, example, run)
    await _refuse_at_a4(actor, example, run)
    await _study_help(actor, a8, example, run)
    run.untested.extend(actor.problems)
    return run


def integrity_verdicts(run: IntegrityRun) -> list[Verdict]:
    """INT-01 then INT-02."""
    return [
        rule_verdict(
            INT_01,
            "A4",
            cases=len(run.refusals),
            violations=run.refusal_violations,
            untested=run.untested,
            details={"cases": run.refusals, "prompts": list(GRADED_WORK)},
        ),
        rule_verdict(
            INT_02,
            "A4",
            cases=len(run.help_cases),
            violations=run.help_violations,
            untested=run.untested,
            details={"cases": run.help_cases, "prompt": STUDY_HELP},
        ),
    ]
