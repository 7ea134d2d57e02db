"""The gate writes Allure results by default, so QA always has a report to open.

When the run selects the gate (``-m`` naming ``second_confirmation``), allure-pytest is
loaded and no ``--alluredir`` was given, the results go to ``tests/perf/allure-results``
under the project root, emptied first so one report is one run (allure-pytest's own
``--clean-alluredir`` races under xdist: each worker deletes the folder). This runs in
``pytest_cmdline_main`` on the controller, before any ``pytest_configure``: xdist copies
the option to its workers, and allure-pytest reads it when it configures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pytest

GATE_MARKER: Final = "second_confirmation"
DEFAULT_RESULTS: Final = Path("tests") / "perf" / "allure-results"
RESULT_PATTERNS: Final = ("*-result.json", "*-container.json", "*-attachment*")


def default_allure_results(config: pytest.Config) -> Path | None:
    """Point allure-pytest at the default folder for a gate run; returns it (else None)."""
    if hasattr(config, "workerinput") or not config.pluginmanager.hasplugin("allure_pytest"):
        return None
    if GATE_MARKER not in (config.option.markexpr or ""):
        return None
    if getattr(config.option, "allure_report_dir", None):
        return None  # the user named one: theirs to manage
    folder = Path(config.rootpath) / DEFAULT_RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    for pattern in RESULT_PATTERNS:
        for stale in folder.glob(pattern):
            stale.unlink(missing_ok=True)
    config.option.allure_report_dir = str(folder)
    return folder
