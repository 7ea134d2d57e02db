"""pytest wiring: options, markers, the HITL gate, verdict recording and the release gate.

Loading this module (every pytest start in an environment that has the plugin) imports
no check, no report writer, no httpx and no scipy: those are imported where they are
used, as hypothesis's plugin does.

This module holds no statistics and formats no report: it connects pytest's hooks to
the modules that own those ideas. Decisions that must be the same on every xdist worker
(the approvals snapshot) are made once on the controller and handed to the workers.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Generator
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

import pytest

from secondconf.contract.platform import TargetEnv
from secondconf.core.clock import SystemClock, utc_iso
from secondconf.core.redact import redact
from secondconf.core.versions import library_versions
from secondconf.engine.results import (
    SUPERSEDED_PREFIX,
    CheckRecord,
    CheckStatus,
    ResultsModel,
)
from secondconf.engine.verdict import Outcome, Verdict
from secondconf.hitl.log import ApprovalLog, ApprovalLogError, format_length, record_use
from secondconf.pytest_plugin import markers
from secondconf.pytest_plugin.allure_labels import AllureVerdicts
from secondconf.pytest_plugin.drill_fixtures import (  # noqa: F401  (phase 7's fixtures)
    _resiliency_run,
    resiliency_drills,
)
from secondconf.pytest_plugin.fixtures import (  # noqa: F401  (the plugin's fixtures)
    a8,
    as_student,
    async_client,
    attach_chart,
    b2c_run,
    clock,
    exclusive_target_load,
    fault_control,
    hardening_run,
    harness_settings,
    liveness_run,
    phase_progress,
    resiliency_control,
    run_async,
    secret,
    session_run_info,
    sync_client,
    target,
)
from secondconf.pytest_plugin.options import add_options, resolve_settings
from secondconf.pytest_plugin.redaction import (
    learn_run_secrets,
    redact_report,
    register_allure_redaction,
    unregister_allure_redaction,
)
from secondconf.pytest_plugin.reporting import (
    REPORT_DELIBERATE_SKIP,
    REPORT_MARKS,
    REPORT_VERDICTS,
    add_report,
)
from secondconf.pytest_plugin.run_log import add_webhook_option, start_run_log
from secondconf.pytest_plugin.run_start import RunStart
from secondconf.pytest_plugin.state import (
    APPROVALS_KEY,
    CLOCK_KEY,
    DELIBERATE_SKIP_KEY,
    HITL_USES_KEY,
    MARKS_KEY,
    RESULTS_KEY,
    RUN_INFO_KEY,
    SETTINGS_KEY,
    VERDICTS_KEY,
)
from secondconf.settings import HarnessSettings

if TYPE_CHECKING:
    from secondconf.pytest_plugin.final_scan import FinalScan

WORKERINPUT_APPROVALS = "secondconf_approvals"
WORKEROUTPUT_KEY = "secondconf.v1"


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)
    add_webhook_option(parser.getgroup("secondconf"))


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    from secondconf.pytest_plugin.allure_default import default_allure_results

    default_allure_results(config)


def pytest_configure(config: pytest.Config) -> None:
    for line in markers.MARKER_LINES:
        config.addinivalue_line("markers", line)
    settings = resolve_settings(config)
    config.stash[SETTINGS_KEY] = settings
    config.stash[CLOCK_KEY] = SystemClock()
    config.stash[RESULTS_KEY] = ResultsModel()
    config.stash[HITL_USES_KEY] = []
    config.stash[RUN_INFO_KEY] = {}
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    try:
        if workerinput is not None and WORKERINPUT_APPROVALS in workerinput:
            approvals = ApprovalLog.from_json(workerinput[WORKERINPUT_APPROVALS])
        else:
            approvals = ApprovalLog.load(settings.hitl_log)
    except ApprovalLogError as error:
        raise pytest.UsageError(f"{error}; restricted checks never run on it") from None
    config.stash[APPROVALS_KEY] = approvals
    if settings.system_map is not None and workerinput is None:
        from secondconf.target.deployment import TargetError, load_named_target

        try:  # once, on the controller: a bad map or a dead target stops the run here
            load_named_target(settings.system_map)
        except TargetError as error:
            raise pytest.UsageError(str(error)) from None
    if _is_worker(config):
        config.pluginmanager.register(_Worker(config), "secondconf-worker")
    else:
        config.pluginmanager.register(_Controller(config), "secondconf-controller")
    config.pluginmanager.register(RunStart(config), "secondconf-run-start")
    allure_redaction = register_allure_redaction(config)
    if allure_redaction is not None:
        config.add_cleanup(lambda: unregister_allure_redaction(allure_redaction))
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(), "secondconf-xdist")


class _XdistHooks:
    """Registered only when xdist is installed, so its hooks are known to pluggy."""

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[WORKERINPUT_APPROVALS] = node.config.stash[APPROVALS_KEY].to_json()

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        payload = getattr(node, "workeroutput", {}).get(WORKEROUTPUT_KEY)
        worker_id = str(node.gateway.id)
        node.config.stash[RESULTS_KEY].add_worker_output(worker_id, payload)


def pytest_report_header(config: pytest.Config) -> list[str]:
    approvals = config.stash[APPROVALS_KEY]
    return [
        config.stash[SETTINGS_KEY].describe(),
        f"secondconf: {len(approvals.approvals)} HITL approval(s) in {approvals.path}"
        f" ({approvals.protection})",
    ]


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _marks(item: pytest.Item) -> markers.CheckMarks | markers.MarkerError:
    if MARKS_KEY not in item.stash:
        try:
            item.stash[MARKS_KEY] = markers.validate(item.iter_markers())
        except markers.MarkerError as error:
            item.stash[MARKS_KEY] = error
    return item.stash[MARKS_KEY]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    marks = _marks(item)
    if isinstance(marks, markers.MarkerError):
        raise marks
    settings = item.config.stash[SETTINGS_KEY]
    if settings.env is TargetEnv.PROD_OBSERVE and marks.is_check and "prod_safe" not in marks.tags:
        item.stash[DELIBERATE_SKIP_KEY] = True
        pytest.skip("not marked prod_safe: never run against prod_observe")
    if marks.hitl_gate is not None:
        _require_approval(item, marks.hitl_gate, settings)


def _require_approval(item: pytest.Item, gate: str, settings: HarnessSettings) -> None:
    config = item.config
    log, now = config.stash[APPROVALS_KEY], config.stash[CLOCK_KEY].now()
    cap = timedelta(seconds=settings.hitl_max_approval_s)
    approval = log.valid_approval(gate, settings.env.value, now, max_length=cap)
    if approval is None:
        item.stash[DELIBERATE_SKIP_KEY] = True
        too_long = log.valid_approval(gate, settings.env.value, now, max_length=None)
        pytest.skip(
            f"HITL gate {gate!r} not approved for env {settings.env.value!r} "
            f"(approval log: {settings.hitl_log})"
            + (
                ""
                if too_long is None
                else f"; approval {too_long.short_id} lasts {format_length(too_long.length)},"
                f" longer than the {format_length(cap)} --hitl-max-approval counts"
            )
        )
    try:
        record_use(settings.hitl_log, approval, test_id=item.nodeid, clock=config.stash[CLOCK_KEY])
    except (ApprovalLogError, ValueError) as error:  # log replaced, or approval just expired
        pytest.fail(f"HITL gate {gate!r}: cannot log the use of its approval: {error}", False)
    config.stash[HITL_USES_KEY].append({"test": item.nodeid, "gate": gate, "approval": approval.id})


@pytest.fixture
def record_verdict(request: pytest.FixtureRequest) -> Callable[[Verdict], Verdict]:
    """Record a verdict for this check, and in Allure its labels, a step and its evidence;
    a check whose verdicts are not all PASS fails."""
    recorded = request.node.stash.setdefault(VERDICTS_KEY, [])
    marks = _marks(request.node)  # valid here: setup has raised on a MarkerError
    valid = None if isinstance(marks, markers.MarkerError) else marks
    allure = AllureVerdicts(request.config, valid)

    def record(verdict: Verdict) -> Verdict:
        recorded.append(verdict)
        allure.record(verdict)
        return verdict

    return record


@pytest.hookimpl(wrapper=True, trylast=True)  # innermost: done before Allure reads it
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    marks = _marks(item)
    if isinstance(marks, markers.MarkerError):
        setattr(report, REPORT_MARKS, {"invalid": str(marks)})
    elif marks.is_check:
        setattr(report, REPORT_MARKS, _marks_dict(marks))
    else:
        return _scrubbed(item, report)
    setattr(report, REPORT_DELIBERATE_SKIP, item.stash.get(DELIBERATE_SKIP_KEY, False))
    if report.when == "call":
        verdicts = item.stash.get(VERDICTS_KEY, [])
        setattr(report, REPORT_VERDICTS, [v.to_dict() for v in verdicts])
        not_passed = [v for v in verdicts if v.outcome is not Outcome.PASS]
        judged = {v.details.get("rule") for v in verdicts}
        declared = marks.rules if isinstance(marks, markers.CheckMarks) else ()
        unjudged = [rule_id for rule_id in declared if rule_id not in judged]
        if report.passed and (not_passed or unjudged):
            report.outcome = "failed"
            report.longrepr = "\n".join(
                [
                    "release gate: verdict not PASS",
                    *(v.summary() for v in not_passed),
                    *(f"no verdict for declared rule {rule_id}" for rule_id in unjudged),
                ]
            )
    return _scrubbed(item, report)


def _scrubbed(item: pytest.Item, report: pytest.TestReport) -> pytest.TestReport:
    """``report`` with every known secret value masked, before the terminal, JUnit XML,
    xdist or Allure see it (:mod:`secondconf.pytest_plugin.redaction`)."""
    run_info: dict[str, Any] = item.config.stash[RUN_INFO_KEY]
    learn_run_secrets(item.config.stash[SETTINGS_KEY], run_info)
    redact_report(report)
    return report


def _marks_dict(marks: markers.CheckMarks) -> dict[str, Any]:
    return {
        "phase": marks.phase,
        "app": marks.app,
        "hitl_gate": marks.hitl_gate,
        "tags": marks.tags,
        "rules": marks.rules,
    }


class _Controller:
    """Keeps the results model and the gate; registered only where reports converge
    (the xdist controller, or the only process without xdist)."""

    def __init__(self, config: pytest.Config) -> None:
        from secondconf.reports.outputs import snapshot

        self.config = config
        self.model = config.stash[RESULTS_KEY]
        self.model.run_id = uuid.uuid4().hex
        self.model.files_before = snapshot(config.stash[SETTINGS_KEY])  # before any worker
        env = config.stash[SETTINGS_KEY].env.value
        self.run_log = start_run_log(
            config, self.model.run_id, config.stash[APPROVALS_KEY], f"secondconf gate ({env})"
        )
        self.pages: list[tuple[str, dict[str, bool]]] = []
        self.secret_scan: FinalScan | None = None  # secrets and PII (contract §2, §14)
        self.summary: list[tuple[str, dict[str, bool]]] = []  # the gate's lines, scanned
        self.closing: list[tuple[str, dict[str, bool]]] = []  # printed after the scan's

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        add_report(self.model, report)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.model.has_checks:
            return  # no side effects when no check ran
        settings = self.config.stash[SETTINGS_KEY]
        run_info: dict[str, Any] = self.config.stash[RUN_INFO_KEY]
        uses: list[dict[str, str]] = self.config.stash[HITL_USES_KEY]
        self.model.run_info.update(run_info)
        self.model.hitl_uses.extend(uses)
        self.model.generated_at = utc_iso(self.config.stash[CLOCK_KEY].now())
        from secondconf.pytest_plugin.final_scan import final_scan_for_session
        from secondconf.reports.writers import WRITERS

        for write_report in WRITERS:
            write_report(self.model, settings)
        self.pages = self.run_log.escalate(self.model)
        self.summary, self.closing = self._gate_summary(), self._closing_lines()
        # Last: every output of the run is written (the JUnit file too: this hook is
        # trylast), so the scan sees all of it, and the lines the gate is about to print.
        printed = [text for text, _ in self.summary + self.closing]
        self.secret_scan = final_scan_for_session(self.config, self.model.run_info, printed)
        failed = not self.model.selection_passed or not self.secret_scan.passed
        failed = failed or bool(self.run_log.problems)  # a page not logged or not delivered
        not_recorded = self.run_log.close(self.model, passed=not failed)
        if not_recorded is not None:
            failed = True
            self.closing.append((not_recorded, {"red": True, "bold": True}))
        if failed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.model.has_checks:
            return
        terminalreporter.section("second confirmation gate", sep="=", bold=True)
        scan = self.secret_scan
        scan_lines = (
            []
            if scan is None
            else [(line, {"red": not scan.passed}) for line in scan.summary_lines()]
        )
        for text, markup in self.summary + scan_lines + self.closing:
            terminalreporter.write_line(redact(text), **markup)

    def _gate_summary(self) -> list[tuple[str, dict[str, bool]]]:
        """The gate's verdict (or PARTIAL RUN for part of the gate) with every check's
        count, then each check that is not PASS with its figures."""
        failing = self.model.failing()
        total = len(self.model.checks)
        prod_observe = self.config.stash[SETTINGS_KEY].env is TargetEnv.PROD_OBSERVE
        counts = _gate_counts(self.model, prod_observe=prod_observe)
        lines: list[tuple[str, dict[str, bool]]] = []
        if not self.model.whole_gate:
            selection = self.model.selection
            of = selection.gate_checks_collected if selection is not None else 0
            not_pass = f", {len(failing)} not PASS" if failing else ""
            lines.append((f"PARTIAL RUN: {total} of {of} checks{not_pass}; {counts}", _BOLD_YELLOW))
            why = "; ".join(self.model.partial_because())
            lines.append((f"  not the release gate ({why}): no gate verdict recorded", {}))
        elif self.model.selection_passed:
            lines.append((f"GATE PASSED: {counts}", {"green": True, "bold": True}))
        else:
            head = f"GATE FAILED: {len(failing)} of {total} check(s) not PASS; {counts}"
            lines.append((head, {"red": True, "bold": True}))
        for check in failing:
            lines.append((f"  {check.nodeid}", {}))
            lines.extend((f"      {line}", {}) for line in check.problems())
        unjudged = self.model.rules_without_verdict()
        if unjudged:
            lines.append((f"  declared rule(s) without a verdict: {', '.join(unjudged)}", {}))
        for worker in self.model.lost_workers:
            lines.append((f"  worker {worker} was lost before handing over its output", {}))
        return lines

    def _closing_lines(self) -> list[tuple[str, dict[str, bool]]]:
        from secondconf.reports.run_results import RESULTS_FILE

        lines = list(self.pages)  # this run's escalations (contract §13)
        if earlier := len(self.config.stash[APPROVALS_KEY].escalations):
            listed = "secondconf-hitl list"
            lines.append((f"HITL log: {earlier} escalation(s) of earlier runs ({listed})", {}))
        previous = self.model.run_info.get("previous_run")
        if previous:
            moved = f"{previous['moved']} output(s) moved to {previous['folder']}"
            lines.append((f"previous run {previous['run_id'] or '(no id)'}: {moved}", {}))
        results = self.config.stash[SETTINGS_KEY].reports_dir / RESULTS_FILE
        lines.append((f"results: {results} (run {self.model.run_id})", {}))
        return lines


def _gate_counts(model: ResultsModel, *, prod_observe: bool) -> str:
    """Every check counted once: passed, not PASS, or skipped by the harness's policy
    (HITL approval, prod_observe, superseded), each skip kind with what caused it."""
    grouped = model.by_status(prod_observe=prod_observe)
    parts = [f"{len(grouped[CheckStatus.PASSED])} passed"]
    if waiting := grouped[CheckStatus.AWAITING_APPROVAL]:
        gates = sorted({g for c in waiting if (g := _gate_awaited(c))})
        parts.append(f"{len(waiting)} awaiting approval ({', '.join(gates)})")
    if unsafe := grouped[CheckStatus.NOT_PROD_SAFE]:
        parts.append(f"{len(unsafe)} not prod_safe (never run against prod_observe)")
    if superseded := grouped[CheckStatus.SUPERSEDED]:
        why = "; ".join(
            " ".join([*c.declared_rules, (c.skip_reason or "").removeprefix(SUPERSEDED_PREFIX)])
            for c in superseded
        )
        parts.append(f"{len(superseded)} superseded ({why})")
    return ", ".join(parts)


def _gate_awaited(check: CheckRecord) -> str | None:
    """The gate a skipped check waits for: its marker's, or the one its skip names (a check
    whose gate applies outside embedded only, such as the drills' inject_503)."""
    marked = (check.marks or {}).get("hitl_gate")
    named = _GATE_NAMED.search(check.skip_reason or "")
    return str(marked) if marked else named.group(1) if named else None


_GATE_NAMED: Final = re.compile(r"HITL gate '([a-z0-9_]+)'")
_BOLD_YELLOW: Final = {"yellow": True, "bold": True}


class _Worker:
    """Hands the worker's own output to the controller at the end of its session."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_sessionfinish(self) -> None:
        workeroutput: dict[str, Any] = getattr(self.config, "workeroutput")  # noqa: B009
        selection = self.config.stash[RESULTS_KEY].selection
        workeroutput[WORKEROUTPUT_KEY] = {
            "hitl_uses": self.config.stash[HITL_USES_KEY],
            "run_info": self.config.stash[RUN_INFO_KEY],
            "library_versions": library_versions(),
            "selection": None if selection is None else selection.to_dict(),
        }
