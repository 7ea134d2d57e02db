"""``no_data_verdict``: the one INCONCLUSIVE-with-nothing-observed verdict, where every
judge starts and what a check gives for a claim it could not measure."""

from __future__ import annotations

from secondconf.checks.coldstart.measure import (
    RULE,
    RULE_ROW,
    SLO_P95_MS,
    SOURCE,
    no_process_control,
)
from secondconf.engine.verdict import Outcome, Reason, Verdict, Window, judge_rate, no_data_verdict


def test_a_cold_start_without_process_control_is_no_data_naming_why() -> None:
    assert no_process_control(["A3"], "no processes") == [
        Verdict(
            check=RULE_ROW.check,
            source=SOURCE,
            subject="A3",
            outcome=Outcome.INCONCLUSIVE,
            reason=Reason.NO_DATA,
            threshold=SLO_P95_MS,
            estimate=None,
            lower=None,
            upper=None,
            method="every_observation",
            alpha=0.0,
            n=0,
            k=0,
            details={"rule": RULE_ROW.rule_id, "untested": "no processes", "judged": RULE},
        )
    ]


def test_a_judge_with_no_samples_is_the_same_no_data_verdict() -> None:
    window = Window(start="2026-12-03T18:00:00Z", end="2026-12-03T18:01:00Z")

    judged = judge_rate(
        check="error_rate", source="probe", failures=0, n=0, threshold=0.01, window=window
    )

    assert judged == no_data_verdict("error_rate", "probe", 0.01, 1 - 0.95, "wilson", window)
    assert (judged.n, judged.estimate, dict(judged.details)) == (0, None, {})
