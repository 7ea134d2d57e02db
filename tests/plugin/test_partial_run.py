"""A partial run never stands for the gate, and an earlier run's reports are never left
beside a new run's as if they were its own."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from secondconf.core.clock import SystemClock
from secondconf.engine.results import CheckRecord, ResultsModel
from secondconf.engine.selection import Selection
from secondconf.hitl.log import ApprovalLog, append_approval
from secondconf.reports.outputs import move_previous_run, snapshot, written_since
from secondconf.settings import HarnessSettings

from tests.plugin.conftest import BASE_INI
from tests.plugin.pytester_helpers import read_results, settings_under

REPORTS = Path("tests/perf/reports")
EVIDENCE = Path("tests/perf/evidence")
HITL_LOG = REPORTS / "hitl_approvals.log"

# Three gate checks, each leaving evidence as a check may; one behind a HITL gate, so the
# run writes to the approvals log too; and a plain test that is no check.
CHECKS = """
from pathlib import Path

import pytest


def evidence(name):
    folder = Path("tests/perf/evidence/debug")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(name)


@pytest.mark.second_confirmation
@pytest.mark.app("A1")
def test_a1():
    evidence("a1.txt")


@pytest.mark.second_confirmation
@pytest.mark.app("A2")
def test_a2():
    evidence("a2.txt")


@pytest.mark.second_confirmation
@pytest.mark.load
@pytest.mark.hitl(gate="inject_503")
def test_drill():
    evidence("drill.txt")


def test_not_a_check():
    pass
"""


@pytest.fixture
def gate(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_checks=CHECKS)
    append_approval(
        pytester.path / HITL_LOG,
        who="qa-lead",
        gate="inject_503",
        env="embedded",
        reason="partial run test",
        clock=SystemClock(),
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:xdist", "-p", "no:cacheprovider", *args)


def outputs_on_disk(root: Path) -> set[str]:
    """Every file in the output folders outside previous-run/, but the HITL log's."""
    files = {
        str(p)
        for folder in (root / REPORTS, root / EVIDENCE)
        for p in folder.rglob("*")
        if p.is_file() and "previous-run" not in p.parts
    }
    return {f for f in files if not Path(f).name.startswith(HITL_LOG.name)}


def test_a_whole_run_is_the_gate_and_lists_every_output(gate: pytest.Pytester) -> None:
    result = run(gate)
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["GATE PASSED: 3 passed", "results: * (run *)"])
    data = read_results(gate)
    assert (data["whole_gate"], data["gate_passed"], data["selection_passed"]) == (
        True,
        True,
        True,
    )
    assert data["selection"]["partial_because"] == []
    assert data["selection"]["gate_checks_collected"] == 3
    assert len(data["run_id"]) == 32
    assert set(data["outputs"]) == outputs_on_disk(gate.path)
    assert str(gate.path / EVIDENCE / "debug" / "a2.txt") in data["outputs"]
    assert not any("hitl_approvals" in path for path in data["outputs"])


def test_a_k_run_after_a_full_run_is_partial_and_moves_the_full_runs_outputs_aside(
    gate: pytest.Pytester,
) -> None:
    run(gate).assert_outcomes(passed=4)
    full = read_results(gate)
    hitl_after_full = (gate.path / HITL_LOG).read_text()

    result = run(gate, "-k", "test_a1")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "PARTIAL RUN: 1 of 3 checks; 1 passed",
            "  not the release gate (-k 'test_a1'; 2 second_confirmation check(s) deselected):"
            " no gate verdict recorded",
            f"previous run {full['run_id']}: * output(s) moved to *previous-run",
        ]
    )
    assert "GATE PASSED" not in result.stdout.str()

    partial = read_results(gate)
    assert (partial["whole_gate"], partial["gate_passed"], partial["selection_passed"]) == (
        False,
        None,
        True,
    )
    assert partial["selection"]["keyword_expression"] == "test_a1"
    assert partial["selection"]["deselected"] == 3
    # Nothing of the full run is left beside the partial run's outputs unmarked: every
    # file there is listed by the partial run, and the full run's are in previous-run/.
    assert set(partial["outputs"]) == outputs_on_disk(gate.path)
    assert not (gate.path / EVIDENCE / "debug" / "a2.txt").exists()
    previous = gate.path / REPORTS / "previous-run"
    assert (previous / "evidence" / "debug" / "a2.txt").read_text() == "a2.txt"
    moved_results = json.loads((previous / "reports" / "secondconf_results.json").read_text())
    assert (moved_results["run_id"], moved_results["whole_gate"]) == (full["run_id"], True)
    # The approvals log belongs to no run: still in place, untouched by the move (the
    # partial run only appended its own run record).
    assert (gate.path / HITL_LOG).read_text().startswith(hitl_after_full)
    assert [r.record["result"] for r in ApprovalLog.load(gate.path / HITL_LOG).runs][-1:] == [
        "PASSED (partial run)"
    ]
    assert not list(previous.rglob("hitl_approvals*"))


def test_previous_run_keeps_only_the_last_run(gate: pytest.Pytester) -> None:
    run(gate).assert_outcomes(passed=4)
    run(gate, "-k", "test_a1").assert_outcomes(passed=1)
    second = read_results(gate)
    run(gate, "-k", "test_a2").assert_outcomes(passed=1)
    previous = gate.path / REPORTS / "previous-run"
    moved = json.loads((previous / "reports" / "secondconf_results.json").read_text())
    assert moved["run_id"] == second["run_id"]
    assert not (previous / "evidence" / "debug" / "a2.txt").exists()  # the first run's


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("-m", "not load"), "1 second_confirmation check(s) deselected"),
        (("test_checks.py::test_a1",), "a file or test named on the command line: *::test_a1"),
        (("test_checks.py",), "a file or test named on the command line: test_checks.py"),
        (("--deselect", "test_checks.py::test_a2"), "1 second_confirmation check(s) deselected"),
    ],
)
def test_other_ways_of_running_part_of_the_gate_are_partial(
    gate: pytest.Pytester, args: tuple[str, ...], reason: str
) -> None:
    result = run(gate, *args)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["PARTIAL RUN: *", f"  not the release gate (*{reason}*"])
    assert read_results(gate)["gate_passed"] is None


def test_the_gate_marker_alone_selects_the_whole_gate(gate: pytest.Pytester) -> None:
    result = run(gate, "-m", "second_confirmation")  # deselects only the plain test
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["GATE PASSED: 3 passed"])
    data = read_results(gate)
    assert (data["whole_gate"], data["selection"]["deselected"]) == (True, 1)


def test_a_failing_partial_run_fails_and_still_records_no_gate_verdict(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(CHECKS.replace('evidence("a1.txt")', 'raise AssertionError("down")'))
    result = run(pytester, "-k", "test_a1")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["PARTIAL RUN: 1 of 3 checks, 1 not PASS; 0 passed", "  *"])
    data = read_results(pytester)
    assert (data["gate_passed"], data["selection_passed"]) == (None, False)


def test_selection_is_handed_over_by_xdist_workers(gate: pytest.Pytester) -> None:
    result = gate.runpytest("-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["GATE PASSED: 3 passed"])
    run_id = read_results(gate)["run_id"]
    partial = gate.runpytest("-n", "2", "-p", "no:cacheprovider", "-k", "test_a1 or test_a2")
    partial.stdout.fnmatch_lines(["PARTIAL RUN: 2 of 3 checks; 2 passed"])
    data = read_results(gate)
    assert (data["whole_gate"], data["gate_passed"]) == (False, None)
    assert data["run_info"]["previous_run"]["run_id"] == run_id  # moved by one worker


# -- the model and the output folders, without pytest ----------------------------------------


def selection(**changes: object) -> Selection:
    fields: dict[str, object] = {
        "mark_expression": "",
        "keyword_expression": "",
        "args": (),
        "deselected": 0,
        "gate_checks_collected": 2,
        "gate_checks_selected": ("t::a", "t::b"),
        "narrowed_by": (),
    }
    return Selection(**{**fields, **changes})  # type: ignore[arg-type]


def model_with(sel: Selection | None, ran: tuple[str, ...] = ("t::a", "t::b")) -> ResultsModel:
    checks = {nodeid: CheckRecord(nodeid, {"tags": ["second_confirmation"]}) for nodeid in ran}
    return ResultsModel(checks=checks, selection=sel)


def test_a_model_is_the_whole_gate_only_when_every_collected_check_was_selected_and_ran() -> None:
    assert model_with(selection()).gate_passed is True
    assert model_with(selection(gate_checks_selected=("t::a",)), ("t::a",)).gate_passed is None
    assert model_with(selection(), ("t::a",)).partial_because() == [
        "1 selected check(s) did not run"
    ]
    assert model_with(None).partial_because() == ["no process reported what it collected"]
    nothing_collected = selection(gate_checks_collected=0, gate_checks_selected=())
    assert model_with(nothing_collected, ()).to_dict()["gate_passed"] is None
    partial = model_with(selection(narrowed_by=("--lf",)))
    assert (partial.gate_passed, partial.selection_passed) == (None, True)


def test_a_selection_survives_the_hand_over_from_a_worker() -> None:
    original = selection(narrowed_by=("-k 'x'",), args=("suites",))
    model = ResultsModel()
    model.add_worker_output("gw0", {"selection": original.to_dict()})
    assert model.selection == original


def settings_in(root: Path) -> HarnessSettings:
    return settings_under(root, hitl_log=root / "reports" / "hitl_approvals.log")


def test_written_since_lists_new_and_rewritten_files_only(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    (tmp_path / "reports").mkdir()
    old, kept = tmp_path / "reports" / "old.md", tmp_path / "reports" / "kept.md"
    old.write_text("old")
    kept.write_text("kept")
    settings.hitl_log.write_text("log")
    before = snapshot(settings)
    old.write_text("rewritten")
    (tmp_path / "evidence" / "A1").mkdir(parents=True)
    (tmp_path / "evidence" / "A1" / "new.json").write_text("{}")
    settings.hitl_log.write_text("log, appended")
    Path(str(settings.hitl_log) + ".lock").write_text("")
    assert written_since(settings, before) == [tmp_path / "evidence" / "A1" / "new.json", old]


def test_a_results_file_cannot_make_the_move_touch_other_files(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("not ours")
    (tmp_path / "reports").mkdir()
    settings.hitl_log.write_text("log")
    report = tmp_path / "reports" / "report.md"
    report.write_text("r")
    listed = [outside, settings.hitl_log, report, tmp_path / "reports" / ".." / "elsewhere.txt"]
    (tmp_path / "reports" / "secondconf_results.json").write_text(
        json.dumps({"run_id": "abc", "outputs": [str(p) for p in listed]})
    )
    moved = move_previous_run(settings, "secondconf_results.json")
    assert moved is not None
    assert moved.run_id == "abc"
    previous = tmp_path / "reports" / "previous-run" / "reports"
    assert sorted(moved.moved) == [previous / "report.md", previous / "secondconf_results.json"]
    assert outside.read_text() == "not ours"
    assert settings.hitl_log.read_text() == "log"
    assert move_previous_run(settings, "secondconf_results.json") is None  # already moved


def test_an_unreadable_results_file_is_moved_on_its_own(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "secondconf_results.json").write_text("{not json")
    (tmp_path / "reports" / "other.md").write_text("unlisted")
    moved = move_previous_run(settings, "secondconf_results.json")
    assert moved is not None
    assert (moved.run_id, [p.name for p in moved.moved]) == (None, ["secondconf_results.json"])
    assert (tmp_path / "reports" / "other.md").exists()


def test_no_checks_moves_nothing(pytester: pytest.Pytester) -> None:
    pytester.makeini(BASE_INI)
    (pytester.path / REPORTS).mkdir(parents=True)
    (pytester.path / REPORTS / "secondconf_results.json").write_text('{"outputs": []}')
    pytester.makepyfile("def test_plain():\n    pass\n")
    run(pytester).assert_outcomes(passed=1)
    assert (pytester.path / REPORTS / "secondconf_results.json").exists()
    assert not (pytester.path / REPORTS / "previous-run").exists()
