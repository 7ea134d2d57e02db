"""The session's last word on secrets and PII: PRD-41's and PII-02's scan of everything
the run wrote.

The scans themselves are :mod:`secondconf.checks.safety.secrets_scan` (secret values)
and :mod:`secondconf.checks.compliance.pii_scan` (PII patterns, contract §14); this
module finds, from pytest's configuration, what to scan: the output folders, the
``--junitxml`` file and the gate's own terminal summary. The run's canaries are not
searched here: they are made in the check's process (an xdist worker) and travel
nowhere, so PII-02 searches them when it runs, and this scan searches the patterns (the
canaries' e-mail address, phone number and client address among them).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest

from secondconf.checks.compliance.pii_scan import PiiScan, scan_files
from secondconf.checks.safety.secrets_scan import (
    SecretScan,
    final_scan,
    output_dirs,
    secrets_for_run,
)
from secondconf.core.redact import register_secret
from secondconf.pytest_plugin.state import SETTINGS_KEY

TERMINAL_SUMMARY: Final = "the gate's terminal summary"


def allure_dir_of(config: pytest.Config) -> Path | None:
    """The ``--alluredir`` folder, if set (allure-pytest takes it relative to where
    pytest was started)."""
    value = config.getoption("allure_report_dir", None)
    if not value:
        return None
    return config.invocation_params.dir / str(value)


def junitxml_of(config: pytest.Config) -> Path | None:
    """The ``--junitxml`` file, if set (the junitxml plugin takes it relative to where
    pytest was started, with ``~`` and variables expanded)."""
    value = config.getoption("xmlpath", None)
    if not value:
        return None
    return config.invocation_params.dir / os.path.expanduser(os.path.expandvars(str(value)))


@dataclass(frozen=True)
class FinalScan:
    """Both scans of the session's outputs; the run fails when either finds something."""

    secrets: SecretScan
    pii: PiiScan

    @property
    def passed(self) -> bool:
        return self.secrets.passed and self.pii.passed

    def summary_lines(self) -> list[str]:
        return self.secrets.summary_lines() + self.pii.summary_lines()


def final_scan_for_session(
    config: pytest.Config, run_info: Mapping[str, Any], summary_lines: Sequence[str]
) -> FinalScan:
    """The controller's one call at session end, after the reports and the JUnit file are
    written: the run's secrets (:func:`secrets_for_run`) searched in evidence, reports,
    Allure results, the ``--junitxml`` file, for the embedded target its logs, and in
    ``summary_lines`` (what the gate is about to print). ``run_info`` is the merged run
    info (the results model's, which holds the workers').

    The values are also registered for :func:`~secondconf.core.redact.redact`: under
    xdist the controller has made no :class:`~secondconf.core.secret.Secret` itself.
    """
    settings = config.stash[SETTINGS_KEY]
    run = secrets_for_run(settings, run_info)
    for name, value in run.values.items():
        register_secret(name, value)
    junitxml = junitxml_of(config)
    files = [] if junitxml is None else [junitxml]
    texts = {TERMINAL_SUMMARY: "\n".join(summary_lines)}
    scan = final_scan(
        settings,
        run.values,
        allure_dir=allure_dir_of(config),
        log_dirs=run.log_dirs,
        files=files,
        texts=texts,
    )
    scan.problems.extend(run.problems)
    folders = output_dirs(settings, allure_dir=allure_dir_of(config), log_dirs=run.log_dirs)
    return FinalScan(scan, scan_files([*folders, *files], texts=texts))
