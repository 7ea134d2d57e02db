"""A check's Allure labels, steps and evidence, written as its verdicts are recorded.

Labels come from the item's ``phase`` and ``app`` marks and from each verdict: the apps
its subject names (a check that judges several apps is labelled with each of them) and
its rule id. Each verdict is one step, titled with its figures (outcome, reason,
estimate, bounds, n, k), holding the verdict with its evidence as a JSON attachment.

allure is imported only here, inside the functions, and only when allure-pytest is
writing results (``--alluredir``): a run without it pays nothing and writes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Final

import pytest

from secondconf.contract.platform import APP_IDS
from secondconf.engine.verdict import Verdict
from secondconf.pytest_plugin.markers import CheckMarks

ALLURE_LISTENER: Final = "allure_listener"  # allure-pytest's listener, only with --alluredir
_APP_RANGE: Final = re.compile(r"(A\d+)\.\.(A\d+)")


def subject_apps(subject: str | None) -> tuple[str, ...]:
    """The apps a verdict's subject names: one app (``A3``), a range (``A1..A7``) or a
    name that starts with an app (``A1 /health``); none for ``outputs`` or ``all apps``."""
    if not subject:
        return ()
    found = _APP_RANGE.fullmatch(subject)
    if found and found[1] in APP_IDS and found[2] in APP_IDS:
        first, last = APP_IDS.index(found[1]), APP_IDS.index(found[2])
        return APP_IDS[first : last + 1]
    head = re.split(r"[\s:]", subject, maxsplit=1)[0]
    return (head,) if head in APP_IDS else ()


class AllureVerdicts:
    """Writes one check's labels (each once), and a step per verdict, to Allure."""

    def __init__(self, config: pytest.Config, marks: CheckMarks | None) -> None:
        self.active = config.pluginmanager.has_plugin(ALLURE_LISTENER)
        self._written: set[tuple[str, str]] = set()
        if marks is not None and marks.phase is not None:
            self._label("phase", str(marks.phase))
        if marks is not None and marks.app is not None:
            self._label("app", marks.app)

    def record(self, verdict: Verdict) -> None:
        if not self.active:
            return
        import allure

        for app in subject_apps(verdict.subject):
            self._label("app", app)
        rule_id = verdict.details.get("rule")
        if rule_id:
            self._label("rule", str(rule_id))
        with allure.step(verdict.summary()):
            allure.attach(
                json.dumps(verdict.to_dict(), indent=2, default=str),
                name=f"{verdict.subject or ''} {rule_id or verdict.check} evidence".strip(),
                attachment_type=allure.attachment_type.JSON,
            )

    def _label(self, name: str, value: str) -> None:
        if not self.active or (name, value) in self._written:
            return
        import allure

        self._written.add((name, value))
        allure.dynamic.label(name, value)  # type: ignore[no-untyped-call]  # allure: no hints


def attach_png(config: pytest.Config, name: str, draw: Callable[[], bytes]) -> None:
    """Attach the PNG ``draw`` makes to the running test's Allure result; without
    ``--alluredir`` nothing is drawn."""
    if not config.pluginmanager.has_plugin(ALLURE_LISTENER):
        return
    import allure

    allure.attach(draw(), name=name, attachment_type=allure.attachment_type.PNG)
