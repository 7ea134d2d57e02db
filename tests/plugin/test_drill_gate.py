"""The drills in staging run only under an inject_503 approval: without one every drill is
skipped naming the gate, counted as awaiting approval, and nothing is sent or logged
but the run's own record. The report writer states each drill's figures."""

from __future__ import annotations

from pathlib import Path

import pytest
from secondconf.checks.resiliency.drills import DRILLS
from secondconf.checks.resiliency.run import DRILLS_SECTION, DrillsRun
from secondconf.engine.results import CheckRecord, ResultsModel
from secondconf.engine.verdict import Outcome, Reason, Verdict
from secondconf.hitl.keys import KEY_ENV, PREVIOUS_KEYS_ENV
from secondconf.hitl.log import ApprovalLog
from secondconf.reports.resiliency import resiliency_report

SUITE = Path(__file__).parents[2] / "suites" / "test_resiliency_drills.py"
LOG = "tests/perf/reports/hitl_approvals.log"

FAKE_TARGET = """
from types import SimpleNamespace

import pytest
from secondconf.target.control import TargetControl

SENT = []

class OfflineControl(TargetControl):
    def _post(self, app_id, path, body):
        SENT.append((app_id, path))
        return {}

    def _delete(self, app_id, path):
        SENT.append((app_id, path))

@pytest.fixture(scope="session")
def target():
    system_map = SimpleNamespace(env="staging", identity_app_id="A1", apps={})
    control = OfflineControl(system_map, "not-a-token")
    return SimpleNamespace(fault_controls=control, processes=None, system_map=system_map)

def pytest_sessionfinish():
    assert SENT == [], SENT
"""


@pytest.fixture(autouse=True)
def unkeyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(PREVIOUS_KEYS_ENV, raising=False)


def test_in_staging_without_approval_every_drill_is_skipped_naming_the_gate(
    pytester: pytest.Pytester, reachable_map: str
) -> None:
    pytester.makeconftest(FAKE_TARGET)
    pytester.makepyfile(test_resiliency_drills=SUITE.read_text())

    result = pytester.runpytest("-p", "no:xdist", "-rs", "--system-map", reachable_map)

    result.assert_outcomes(skipped=len(DRILLS))
    result.stdout.fnmatch_lines(
        [
            f"GATE PASSED: 0 passed, {len(DRILLS)} awaiting approval (inject_503)",
            "SKIPPED*HITL gate 'inject_503' not approved for env 'staging' (approval log: *)",
        ]
    )
    log = ApprovalLog.load(pytester.path / LOG)
    assert (log.actions, log.uses) == ((), ())
    assert [r.record["result"] for r in log.runs] == ["PASSED"]


def _verdict(rule_id: str, outcome: Outcome = Outcome.PASS) -> Verdict:
    return Verdict(
        check=f"{rule_id} detection",
        source="probe",
        outcome=outcome,
        reason=Reason.CHECK_PASSED,
        threshold=0.0,
        estimate=None,
        lower=None,
        upper=None,
        method="exhaustive",
        alpha=0.0,
        n=1,
        k=0,
        details={"rule": rule_id},
    )


def test_the_report_states_each_drills_detection_containment_and_recovery() -> None:
    figures = {
        "detection_s": 0.52,
        "containment": [
            {
                "check": "DRL-01 containment error_rate (other apps pooled)",
                "n": 448,
                "k": 0,
                "upper": 0.0085,
                "threshold": 0.01,
                "outcome": "PASS",
            },
        ],
        "recovery_s": 0.31,
        "recovery_limit_s": 5.0,
        "confirmed": True,
        "problems": [],
    }
    run = DrillsRun.from_dict(
        {
            "results": [
                {
                    "rule_id": "DRL-01",
                    "app_id": "A2",
                    "fault": "503 on 50% of requests",
                    "verdicts": [_verdict("DRL-01").to_dict()],
                    "figures": figures,
                }
            ],
            "steady_state": [],
            "leftovers_cleared": ["A2 error_503 left by t (pid 1): rolled back"],
            "wall_s": 61.5,
            "skip_reason": None,
        }
    )
    model = ResultsModel()
    model.checks["s::DRL-01"] = CheckRecord("s::DRL-01", {}, verdicts=[_verdict("DRL-01")])
    model.run_info[DRILLS_SECTION] = run.to_dict()

    text = resiliency_report(model, run)

    assert (
        "| DRL-01 | A2 | 503 on 50% of requests | 0.52 s | 0/448, upper 0.0085 vs 0.01: PASS"
        " | n/a | 0.31 s (5.0 s) | yes | PASS |" in text
    )
    assert "A2 error_503 left by t (pid 1): rolled back" in text
    assert "Phase wall time: 61.5 s." in text
