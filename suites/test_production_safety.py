"""Production safety (contract §5 and §2): the harness never writes to production unless
synthetic in every respect, and no file the run wrote holds a secret's value.

Both checks send nothing to the target, so both run against ``prod_observe`` too:

* PRD-39 is a self-test of the harness's own clients as configured for ``prod_observe``,
  onto a recording transport instead of the network (:mod:`secondconf.checks.safety.prod_guard`);
* PRD-41 reads local files only (:mod:`secondconf.checks.safety.secrets_scan`). It judges
  the files written before it runs (none yet in fresh folders: a PASS with n=0 files,
  :mod:`secondconf.checks.safety.outputs`); the reports written at session end are scanned
  by the controller's final scan
  (:func:`secondconf.pytest_plugin.final_scan.final_scan_for_session`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from secondconf.checks.safety.outputs import outputs_verdict
from secondconf.checks.safety.prod_guard import check_prod_guard
from secondconf.checks.safety.secrets_scan import output_dirs, scan_for_secrets
from secondconf.engine.verdict import Verdict
from secondconf.pytest_plugin.final_scan import allure_dir_of
from secondconf.settings import HarnessSettings
from secondconf.target.deployment import Target

pytestmark = [
    pytest.mark.second_confirmation,
    pytest.mark.idempotency,
    pytest.mark.phase(3),
    pytest.mark.prod_safe,
]


@pytest.mark.rules("PRD-39")
def test_prod_write_guard(record_verdict: Callable[[Verdict], Verdict]) -> None:
    for verdict in check_prod_guard():
        record_verdict(verdict)


def _log_dirs(target: Target) -> list[Path]:
    """The embedded target's log folder (a deployment's logs are not ours to read)."""
    state_dir = target.processes.state_dir if target.processes is not None else None
    return [] if state_dir is None else [Path(state_dir) / "logs"]


@pytest.mark.rules("PRD-41")
def test_no_secret_in_outputs(
    target: Target,
    settings: HarnessSettings,
    pytestconfig: pytest.Config,
    record_verdict: Callable[[Verdict], Verdict],
) -> None:
    folders = output_dirs(
        settings, allure_dir=allure_dir_of(pytestconfig), log_dirs=_log_dirs(target)
    )
    scan = scan_for_secrets(folders, {n: s.reveal() for n, s in target.secrets.items()})
    record_verdict(outputs_verdict(scan, folders))
