"""The plugin's state on ``config`` and ``item``, in typed stash keys (one place for all)."""

from __future__ import annotations

from typing import Any

import pytest

from secondconf.core.clock import Clock
from secondconf.engine.results import ResultsModel
from secondconf.engine.verdict import Verdict
from secondconf.hitl.log import ApprovalLog
from secondconf.pytest_plugin.markers import CheckMarks, MarkerError
from secondconf.settings import HarnessSettings

SETTINGS_KEY = pytest.StashKey[HarnessSettings]()
APPROVALS_KEY = pytest.StashKey[ApprovalLog]()
CLOCK_KEY = pytest.StashKey[Clock]()
RESULTS_KEY = pytest.StashKey[ResultsModel]()
HITL_USES_KEY = pytest.StashKey[list[dict[str, str]]]()
RUN_INFO_KEY = pytest.StashKey[dict[str, Any]]()
MARKS_KEY = pytest.StashKey[CheckMarks | MarkerError]()
VERDICTS_KEY = pytest.StashKey[list[Verdict]]()
DELIBERATE_SKIP_KEY = pytest.StashKey[bool]()
