"""Report writers. Each reads the results model; none recomputes a statistic."""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from secondconf.atomicfile import write_atomic
from secondconf.clock import SystemClock, utc_iso
from secondconf.options import HarnessSettings
from secondconf.results import ResultsModel

_VERSIONED = ("secondconf", "pytest", "pytest-xdist", "scipy", "numpy", "httpx")


def library_versions() -> dict[str, str]:
    """The versions every verdict depends on, recorded beside it."""
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def run_results(model: ResultsModel, settings: HarnessSettings) -> dict[str, Any]:
    return {
        "generated_at": utc_iso(SystemClock().now()),
        "target": str(settings.system_map) if settings.system_map else "embedded default",
        "env": settings.env.value,
        "profile": {
            "name": settings.profile.name,
            "burn_in_s": settings.profile.burn_in_s,
            "window_s": settings.profile.window_s,
        },
        "statistics": {
            "confidence": settings.confidence,
            "method": settings.method,
            "gating_mode": settings.gating_mode.value,
        },
        "library_versions": library_versions(),
        **model.to_dict(),
    }


def write_run_results(model: ResultsModel, settings: HarnessSettings, path: Path) -> None:
    write_atomic(path, json.dumps(run_results(model, settings), indent=2, sort_keys=False) + "\n")
