"""Helpers shared by the plugin's pytester tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from secondconf.contract.platform import TargetEnv
from secondconf.engine.window import GatingMode
from secondconf.settings import PROFILES, HarnessSettings


def settings_under(
    root: Path,
    *,
    system_map: Path | None = None,
    env: TargetEnv = TargetEnv.EMBEDDED,
    hitl_log: Path | None = None,
) -> HarnessSettings:
    """The harness's default settings with every folder under ``root`` (the HITL log in
    ``root/hitl.log`` unless named)."""
    profile = PROFILES[env]
    return HarnessSettings(
        system_map=system_map,
        env=env,
        profile=profile,
        confidence=0.95,
        method="wilson",
        gating_mode=GatingMode.FIXED,
        probe_rate=profile.probe_rate,
        telemetry_deadline_s=60.0,
        hitl_log=root / "hitl.log" if hitl_log is None else hitl_log,
        evidence_dir=root / "evidence",
        reports_dir=root / "reports",
        project_root=root,
    )


def read_results(pytester: pytest.Pytester, reports_dir: Path | None = None) -> dict[str, Any]:
    folder = Path(pytester.path, "tests/perf/reports") if reports_dir is None else reports_dir
    data: dict[str, Any] = json.loads((folder / "secondconf_results.json").read_text())
    return data


VERDICT_HELPERS = """
import pytest
from secondconf.engine.verdict import judge_rate

def clean(subject="A1"):
    return judge_rate(check="error_rate", source="probe", failures=0, n=1000,
                      threshold=0.01, subject=subject)

def unsure(subject="A2"):
    return judge_rate(check="error_rate", source="probe", failures=0, n=100,
                      threshold=0.01, subject=subject)
"""


def system_map_json(base_url: str, env: str = "staging") -> dict[str, Any]:
    """A valid system map whose eight apps all live at ``base_url``."""
    apps = {f"A{i}": {"base_url": base_url} for i in range(1, 9)}
    return {
        "env": env,
        "generated_at": "2026-11-26T03:00:00Z",
        "apps": apps,
        "telemetry": {"app_id": "A8", "base_url": base_url},
        "identity": {"app_id": "A1", "qa_client_id": "qa-harness"},
    }
