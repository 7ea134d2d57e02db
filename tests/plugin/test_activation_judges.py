"""The activation verdicts from hand-built runs: the rules no reference fault switch
breaks on its own (ACT-03, ACT-05, ACT-06) are shown failing here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from secondconf.checks.activation.judge import (
    judge_activation_tile,
    judge_impression_sampling,
    judge_pages,
)
from secondconf.checks.activation.run import ActivationRun, Answer
from secondconf.engine.verdict import Outcome
from secondconf.target.a8 import StoredEvent

T0 = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)


def stored(name: str, trace: str, *, rate: float = 1.0, late_s: float = 0.2) -> StoredEvent:
    return StoredEvent(
        event=name,
        app_id="A7",
        route=None,
        status=201,
        latency_ms=1.0,
        trace_id=trace,
        timestamp=T0,
        received_at=T0 + timedelta(seconds=late_s),
        sample_rate=rate,
        tags={"test_run": True},
    )


def tile(*events: StoredEvent) -> dict[str, dict[str, Any]]:
    return {
        e.event: {"tile": e.event, "events": [{"trace_id": e.trace_id, "event": e.event}]}
        for e in events
    }


def pages_run(*, publish_again_events: int) -> ActivationRun:
    run = ActivationRun(started_at=T0)
    for step, trace in (("build", "1" * 32), ("publish", "2" * 32), ("publish_again", "3" * 32)):
        run.answers[step] = Answer(step, trace, 200, {"changed": step == "publish"})
    run.events = {
        "1" * 32: [stored("page_build_requested", "1" * 32)],
        "2" * 32: [stored("page_published", "2" * 32)],
        "3" * 32: [stored("http_request", "3" * 32)]
        + [stored("page_published", "3" * 32)] * publish_again_events,
    }
    return run


def test_act03_fails_when_a_second_publish_emits_again() -> None:
    assert judge_pages(pages_run(publish_again_events=0)).outcome is Outcome.PASS
    twice = judge_pages(pages_run(publish_again_events=1))
    assert twice.outcome is Outcome.FAIL
    assert "publish_again" in twice.details["violations"][0]


def test_act05_fails_for_a_sampled_out_impression_held_or_a_wrong_rate() -> None:
    run = ActivationRun(started_at=T0, sampled_in=["a" * 32], sampled_out=["b" * 32])
    run.events = {"a" * 32: [stored("cta_impression", "a" * 32, rate=0.1)], "b" * 32: []}
    assert judge_impression_sampling(run).outcome is Outcome.PASS
    run.events["b" * 32] = [stored("cta_impression", "b" * 32, rate=0.1)]
    run.events["a" * 32] = [stored("cta_impression", "a" * 32, rate=1.0)]
    failed = judge_impression_sampling(run)
    assert failed.outcome is Outcome.FAIL
    assert len(failed.details["violations"]) == 2


def test_act06_fails_an_event_missing_from_its_tile_or_late() -> None:
    on_time = stored("cta_emitted", "c" * 32)
    late = stored("page_published", "d" * 32, late_s=75.0)
    missing = stored("credit_decrement", "e" * 32)
    run = ActivationRun(started_at=T0)
    run.events = {e.trace_id: [e] for e in (on_time, late, missing)}
    run.sent_at = {e.trace_id: T0 for e in (on_time, late, missing)}
    run.tiles = {on_time.trace_id: tile(on_time), late.trace_id: tile(late)}
    run.tile_seen_at = {on_time.trace_id: T0 + timedelta(seconds=1), late.trace_id: T0}
    verdict = judge_activation_tile(run)
    assert verdict.outcome is Outcome.FAIL
    assert [v.split(":")[0].split()[0] for v in verdict.details["violations"]] == [
        "page_published",
        "credit_decrement",
    ]
    run.events = {on_time.trace_id: [on_time]}
    assert judge_activation_tile(run).outcome is Outcome.PASS
