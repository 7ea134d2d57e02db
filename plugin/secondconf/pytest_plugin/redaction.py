"""The last line of defence: no secret value in what pytest prints or writes.

Secrets travel as :class:`~secondconf.core.secret.Secret`, whose repr never shows the
value; but a check can still put a value in an assertion message, a local variable
(``--showlocals``), printed output or a log record. So every test report is scrubbed with
:func:`secondconf.core.redact.redact` in ``pytest_runtest_makereport`` (innermost), before
the terminal, ``--junitxml``, xdist's hand-over to the controller or Allure reads it:
its longrepr (as text, where a value was in it) and its captured sections.

Allure takes a failure's message from the exception itself, not from the report, so its
results are scrubbed once more in allure-commons' ``report_result`` and
``report_container`` hooks, before its file logger writes them.

The values come from every :class:`~secondconf.core.secret.Secret` made in the process
and from :func:`learn_run_secrets`, which reads them where the final secret scan does
(the environment for a named deployment, the embedded target's ``secrets.env``).
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

import pluggy
import pytest

from secondconf.core.redact import redact, register_secret
from secondconf.settings import HarnessSettings

_allure_hookimpl = pluggy.HookimplMarker("allure")  # allure_commons.hookimpl, typed


def learn_run_secrets(settings: HarnessSettings, run_info: Mapping[str, Any]) -> None:
    """Register the run's secret values for :func:`redact`, read where
    :func:`~secondconf.checks.safety.secrets_scan.secrets_for_run` finds them."""
    if settings.system_map is None and not run_info.get("system_map"):
        return  # no target was opened: no secret of the run is in play
    from secondconf.checks.safety.secrets_scan import secrets_for_run

    for name, value in secrets_for_run(settings, run_info).values.items():
        register_secret(name, value)


def redact_report(report: pytest.TestReport) -> None:
    """Scrub every known value out of ``report``'s longrepr and captured sections."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # a skip: (path, line, reason)
        path, line, reason = longrepr
        report.longrepr = (path, line, redact(reason))
    elif longrepr is not None:
        text = str(longrepr)
        redacted = redact(text)
        if redacted != text:  # keep pytest's own repr (and its colours) when it is clean
            report.longrepr = redacted
    report.sections = [(title, redact(content)) for title, content in report.sections]


class AllureRedaction:
    """An allure-commons plugin: every string of a result or container is scrubbed
    before the file logger writes it (allure_pytest takes the message from the
    exception, not from the report)."""

    @_allure_hookimpl(hookwrapper=True)
    def report_result(self, result: object) -> Generator[None, None, None]:
        _redact_model(result)
        yield

    @_allure_hookimpl(hookwrapper=True)
    def report_container(self, container: object) -> Generator[None, None, None]:
        _redact_model(container)
        yield


def _redact_model(item: object) -> None:
    """Every string field of an allure-commons model object (attrs classes, with lists
    of them), in place."""
    for name, value in vars(item).items():
        setattr(item, name, _redacted(value))


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redacted(element) for element in value]
    if hasattr(value, "__attrs_attrs__"):
        _redact_model(value)
    return value


def register_allure_redaction(config: pytest.Config) -> AllureRedaction | None:
    """With ``--alluredir``, put :class:`AllureRedaction` in front of Allure's writer;
    the caller unregisters it at unconfigure (allure-commons' manager is process-wide)."""
    if not config.getoption("allure_report_dir", None):
        return None
    import allure_commons

    redaction = AllureRedaction()
    allure_commons.plugin_manager.register(redaction)
    return redaction


def unregister_allure_redaction(redaction: AllureRedaction) -> None:
    import allure_commons

    allure_commons.plugin_manager.unregister(redaction)
