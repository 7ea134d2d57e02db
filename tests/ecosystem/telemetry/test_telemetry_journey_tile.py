"""A8's funnel-status for one trace (issue 10): the b2c_journey tile, step by step."""

from __future__ import annotations

from reftarget.telemetry.dashboards import journey

from tests.ecosystem.telemetry.telemetry_testkit import event, trace


def received(name: str, app_id: str, at: str, trace_id: str = trace(1)) -> dict[str, object]:
    return event(name, app_id=app_id, trace_id=trace_id) | {"received_at": at}


def test_each_step_shows_its_event_times_and_missing_steps_are_null() -> None:
    events = [
        received("cta_emitted", "A7", "2026-11-26T03:00:01.000Z"),
        received("identity_ok", "A1", "2026-11-26T03:00:02.000Z"),
        received("checkout_completed", "A2", "2026-11-26T03:00:04.000Z"),
        received("activation_first_use", "A5", "2026-11-26T03:00:09.000Z", trace(2)),
    ]
    [tile] = journey(events, trace(1))
    steps = {s["step"]: s for s in tile["steps"]}
    assert list(steps) == [
        "b2c.landing",
        "b2c.signup",
        "b2c.activation",
        "b2c.attribution",
        "b2c.checkout",
        "b2c.settlement",
    ]
    assert steps["b2c.landing"]["received_at"] == "2026-11-26T03:00:01.000Z"
    assert steps["b2c.landing"]["timestamp"] == "2026-11-26T03:00:00.000Z"
    assert steps["b2c.activation"]["received_at"] is None  # another trace's event
    assert steps["b2c.attribution"] == {
        "step": "b2c.attribution",
        "event": "conversion_attributed",
        "app_id": "A3",
        "timestamp": None,
        "received_at": None,
    }
    assert tile["complete"] is False
    assert tile["updated_at"] == "2026-11-26T03:00:04.000Z"


def test_a_step_counts_only_from_its_own_app() -> None:
    events = [received("identity_ok", "A5", "2026-11-26T03:00:02.000Z")]
    [tile] = journey(events, trace(1))
    assert tile["steps"][1]["received_at"] is None


def test_every_step_seen_makes_the_journey_complete() -> None:
    names = [
        ("cta_impression", "A7"),
        ("identity_ok", "A1"),
        ("activation_first_use", "A5"),
        ("conversion_attributed", "A3"),
        ("checkout_completed", "A2"),
        ("revenue_settled", "A2"),
    ]
    events = [received(n, a, f"2026-11-26T03:00:0{i}.000Z") for i, (n, a) in enumerate(names)]
    [tile] = journey(events, trace(1))
    assert tile["complete"] is True
    assert tile["steps"][0]["event"] == "cta_impression"
