"""PRD-41 "No secret in outputs": the verdict on the outputs that exist when the check runs.

The check scans what the run has written so far (evidence, reports, Allure results, the
embedded target's logs); the reports are written at session end, after every check, and
the controller's final scan (:func:`secondconf.checks.safety.secrets_scan.final_scan`)
judges them and everything else written after the check. So folders that are still
empty, as on a run with fresh ``--reports-dir`` and ``--evidence-dir``, are no gap: every
output that existed was scanned, and there were none. The verdict is PASS with ``n = 0``
files stated, not INCONCLUSIVE.

INCONCLUSIVE is kept for a scan that cannot vouch for anything: no secret value long
enough to search for, or values that could not be read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from secondconf.checks.safety.secrets_scan import SecretScan
from secondconf.contract.catalog import rule_by_id
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Outcome, Reason, Verdict

PRD_41: Final = rule_by_id("PRD-41")
SCOPE: Final = (
    "the outputs present when the check ran; the final scan at session end judges "
    "the reports and everything written after it"
)


def outputs_verdict(scan: SecretScan, folders: Sequence[Path]) -> Verdict:
    """FAIL naming each finding; PASS with ``n`` = files scanned (0 included) when a
    secret was searched and nothing found; INCONCLUSIVE when nothing could be searched."""
    verdict = rule_verdict(
        PRD_41,
        "outputs",
        cases=scan.files_scanned,
        violations=scan.violations(),
        untested=[*scan.not_scanned(), *scan.problems],
        source="files",
        details={
            "folders": [str(f) for f in folders],
            "files_scanned": scan.files_scanned,
            "scope": SCOPE,
            "scan": scan.to_dict(),
        },
    )
    if verdict.outcome is Outcome.FAIL:
        return verdict
    if scan.searched and not scan.problems:
        return dataclasses.replace(verdict, outcome=Outcome.PASS, reason=Reason.CHECK_PASSED)
    return dataclasses.replace(verdict, outcome=Outcome.INCONCLUSIVE, reason=Reason.NO_DATA)
