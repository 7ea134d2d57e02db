"""The gate run in the HITL log: its escalations (contract §13) and its run record.

At the controller's session end: every FAIL of a rule that escalates
(:mod:`secondconf.hitl.escalations`) is appended to the log as an ``escalation``, posted
to ``--escalation-webhook`` when one is given (:mod:`secondconf.hitl.pager`), and printed
in the gate summary's ``PAGE`` block; then the run's record (kind ``run``,
:mod:`secondconf.hitl.run_record`) closes the run's entries, whatever its result.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

import pytest

from secondconf.core.clock import utc_iso
from secondconf.core.redact import redact
from secondconf.core.secret import Secret
from secondconf.engine.results import ResultsModel
from secondconf.hitl.escalations import Page, pages_for, rule_failures, schema_mismatches
from secondconf.hitl.log import ApprovalLog, ApprovalLogError, record_escalation, record_run
from secondconf.hitl.pager import ROUTING_KEY_ENV, WEBHOOK_OPTION, Pager
from secondconf.hitl.run_record import RunSummary, build_record, earlier_mismatches
from secondconf.pytest_plugin.state import CLOCK_KEY, SETTINGS_KEY

WEBHOOK_DEST: Final = "secondconf_escalation_webhook"
Line = tuple[str, dict[str, bool]]


def add_webhook_option(group: pytest.OptionGroup) -> None:
    """``--escalation-webhook URL``: no ini twin, since a file would keep the secret."""
    group.addoption(
        WEBHOOK_OPTION,
        dest=WEBHOOK_DEST,
        default=None,
        help="Incident webhook each escalation is posted to (PagerDuty Events API v2 shape; "
        f"routing key from {ROUTING_KEY_ENV}); treated as a secret, never printed",
    )


def pager_from_config(config: pytest.Config, source: str) -> Pager | None:
    """The pager for ``--escalation-webhook``, or ``None``; a bad value is one usage error
    that names the option, never its value."""
    url = config.getoption(WEBHOOK_DEST, None)
    if not url:
        return None
    webhook = Secret(WEBHOOK_OPTION, str(url))
    parts = urlsplit(webhook.reveal())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise pytest.UsageError(f"{WEBHOOK_OPTION}: not an http(s) URL with a host (value hidden)")
    key = os.environ.get(ROUTING_KEY_ENV, "")
    if not key:
        raise pytest.UsageError(f"{WEBHOOK_OPTION} needs the routing key in {ROUTING_KEY_ENV}")
    return Pager(webhook, Secret(ROUTING_KEY_ENV, key), source)


@dataclass
class RunLog:
    """The controller's part: started with the session, closed at its end."""

    config: pytest.Config
    run_id: str
    started_at: str
    first_seq: int
    pager: Pager | None
    pages: list[Page] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    webhook: str = "not configured"
    problems: list[str] = field(default_factory=list)

    def escalate(self, model: ResultsModel) -> list[Line]:
        """Log and post this run's escalations; the ``PAGE`` block the gate prints."""
        settings, clock = self.config.stash[SETTINGS_KEY], self.config.stash[CLOCK_KEY]
        failures = rule_failures(
            (c.nodeid, [v.to_dict() for v in c.verdicts]) for c in model.checks.values()
        )
        try:
            earlier = earlier_mismatches(ApprovalLog.load(settings.hitl_log))
        except ApprovalLogError as error:
            self.problems.append(str(error))
            earlier = []
        self.mismatches = schema_mismatches(failures)
        self.pages = [
            Page(p.escalation, p.rule_id, p.test_id, redact(p.detail), p.dedup_key, p.seen_in_runs)
            for p in pages_for(failures, earlier)
        ]
        for page in self.pages:
            try:
                record_escalation(
                    settings.hitl_log, kind=page.escalation, detail=page.detail, clock=clock
                )
            except (ApprovalLogError, ValueError) as error:
                self.problems.append(f"escalation {page.escalation} not logged: {error}")
        if self.pager is not None and self.pages:
            failed = self.pager.post(self.pages, self.run_id)
            self.problems.extend(f"webhook: {line}" for line in failed)
            self.webhook = f"posted {len(self.pages) - len(failed)} of {len(self.pages)}"
        elif self.pager is not None:
            self.webhook = "nothing to post"
        return self.page_block()

    def page_block(self) -> list[Line]:
        if not self.pages and not self.problems:
            return []
        lines: list[Line] = [
            (f"PAGE: {len(self.pages)} escalation(s) (contract §13), webhook {self.webhook}", _RED)
        ]
        lines.extend((f"  {p.escalation}: {p.detail}", {}) for p in self.pages)
        lines.extend((f"  problem: {problem}", _RED) for problem in self.problems)
        return [(redact(text), markup) for text, markup in lines]

    def close(self, model: ResultsModel, *, passed: bool) -> str | None:
        """Append the run record; an error line if the log refused it."""
        settings, clock = self.config.stash[SETTINGS_KEY], self.config.stash[CLOCK_KEY]
        result = "PASSED" if passed else "FAILED"
        if not model.whole_gate:
            result += " (partial run)"
        summary = RunSummary(
            run_id=self.run_id,
            started_at=self.started_at,
            ended_at=utc_iso(clock.now()),
            result=result,
            checks=len(model.checks),
            pages=self.pages,
            schema_mismatches=self.mismatches,
            webhook=self.webhook,
            first_seq=self.first_seq,
        )
        try:
            log = ApprovalLog.load(settings.hitl_log)
            record_run(
                settings.hitl_log,
                run_id=self.run_id,
                record=build_record(summary, log),
                clock=clock,
            )
        except (ApprovalLogError, ValueError) as error:
            return f"HITL log: run record not written: {error}"
        return None


def start_run_log(config: pytest.Config, run_id: str, log: ApprovalLog, source: str) -> RunLog:
    clock = config.stash[CLOCK_KEY]
    return RunLog(
        config,
        run_id=run_id,
        started_at=utc_iso(clock.now()),
        first_seq=len(log.entries),
        pager=pager_from_config(config, source),
    )


_RED: Final = {"red": True, "bold": True}
