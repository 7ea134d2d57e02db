"""The session's last word on secrets: PRD-41's scan of everything the run wrote.

The scan itself is :mod:`secondconf.checks.safety.secrets_scan`; this module finds, from
pytest's configuration, the folders to scan.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from secondconf.checks.safety.secrets_scan import SecretScan, final_scan, secrets_for_run
from secondconf.pytest_plugin.state import SETTINGS_KEY


def allure_dir_of(config: pytest.Config) -> Path | None:
    """The ``--alluredir`` folder, if set (allure-pytest takes it relative to where
    pytest was started)."""
    value = config.getoption("allure_report_dir", None)
    if not value:
        return None
    return config.invocation_params.dir / str(value)


def final_scan_for_session(config: pytest.Config, run_info: Mapping[str, Any]) -> SecretScan:
    """The controller's one call at session end, after the reports are written: the run's
    secrets (:func:`secrets_for_run`) searched in evidence, reports, Allure results and,
    for the embedded target, its logs. ``run_info`` is the merged run info (the results
    model's, which holds the workers')."""
    settings = config.stash[SETTINGS_KEY]
    run = secrets_for_run(settings, run_info)
    scan = final_scan(settings, run.values, allure_dir=allure_dir_of(config), log_dirs=run.log_dirs)
    scan.problems.extend(run.problems)
    return scan
