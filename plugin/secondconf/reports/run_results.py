"""``secondconf_results.json``: the whole results model, with the run's settings and the
manifest of every file the run wrote (:mod:`secondconf.reports.outputs`).

Written last of the reports (``reports.writers``), so the manifest holds the others.
"""

from __future__ import annotations

import json
from typing import Any, Final

from secondconf.core.files import write_atomic
from secondconf.core.versions import library_versions
from secondconf.engine.results import ResultsModel
from secondconf.reports.outputs import written_since
from secondconf.settings import HarnessSettings

RESULTS_FILE: Final = "secondconf_results.json"


def run_results(model: ResultsModel, settings: HarnessSettings) -> dict[str, Any]:
    results = settings.reports_dir / RESULTS_FILE
    outputs = {*written_since(settings, model.files_before), results}
    return {
        "generated_at": model.generated_at,
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
        "outputs": sorted(str(path) for path in outputs),
    }


def write_run_results(model: ResultsModel, settings: HarnessSettings) -> None:
    document = run_results(model, settings)
    write_atomic(settings.reports_dir / RESULTS_FILE, json.dumps(document, indent=2) + "\n")
