"""From pytest's test reports to the results model.

The plugin sets three attributes on each check's ``TestReport`` (they travel with it from
an xdist worker to the controller); this module reads them back into
:class:`~secondconf.engine.results.ResultsModel`.
"""

from __future__ import annotations

import pytest

from secondconf.engine.results import CheckRecord, ResultsModel
from secondconf.engine.verdict import Verdict

REPORT_MARKS = "secondconf_marks"  # attribute set on TestReports by the plugin
REPORT_VERDICTS = "secondconf_verdicts"
REPORT_DELIBERATE_SKIP = "secondconf_deliberate_skip"


def add_report(model: ResultsModel, report: pytest.TestReport) -> None:
    """Fold one test report into the results model; reports of non-checks are ignored."""
    marks = getattr(report, REPORT_MARKS, None)
    crashed = marks is None and report.failed and not report.keywords
    if marks is None and not crashed and report.nodeid not in model.checks:
        return  # not a check: the plugin's own tests, or a user's unrelated test
    record = model.checks.setdefault(report.nodeid, CheckRecord(report.nodeid, marks))
    record.duration_s += report.duration
    record.verdicts.extend(Verdict.from_dict(v) for v in getattr(report, REPORT_VERDICTS, []))
    if report.skipped:
        record.outcome = "skipped"
        record.deliberate_skip = bool(getattr(report, REPORT_DELIBERATE_SKIP, False))
        record.skip_reason = _skip_reason(report)
    elif crashed:
        record.outcome = "crashed"
        record.failure = _first_line(report.longreprtext)
    elif report.failed:
        record.outcome = "failed" if report.when == "call" else "error"
        record.failure = _first_line(report.longreprtext)


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return _first_line(report.longreprtext)


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    # pytest puts the exception line ("E   ...") last; it says more than the source line.
    errors = [line for line in lines if line.startswith("E ")]
    return (errors[0][1:].strip() if errors else lines[-1].strip()) if lines else ""
