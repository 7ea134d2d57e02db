"""``inventory.md`` from a hand-built results model: every app, an app not run, nothing at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from secondconf.checks.inventory import inventory_verdict
from secondconf.contract.platform import APP_IDS, TargetEnv
from secondconf.engine.results import CheckRecord, ResultsModel
from secondconf.reports.inventory import INVENTORY_REPORT, write_inventory_report
from secondconf.settings import HarnessSettings

from tests.plugin.pytester_helpers import settings_under


def settings(tmp_path: Path) -> HarnessSettings:
    return settings_under(tmp_path, system_map=tmp_path / "system_map.json", env=TargetEnv.STAGING)


def details(app_id: str, *, ready: bool = True, openapi: bool = True) -> dict[str, Any]:
    base = f"https://{app_id.lower()}.staging.test"
    found: dict[str, Any] = {
        "base_url": base,
        "map_entry": {"valid": True, "role": "r", "version": "1.0", "routes": 4},
        "health": {
            "url": base + "/health",
            "status_code": 200,
            "status": "ok",
            "app_id": app_id,
            "version": f"{app_id}-1.0",
        },
        "ready": {
            "url": base + "/ready",
            "status_code": 200 if ready else 503,
            "status": "ready" if ready else "not_ready",
            "state": "ready" if ready else "not_ready",
        },
        "openapi": {"url": base + "/openapi.json", "present": openapi, "status_code": 200},
        "problems": [] if ready else [f"ready: {base}/ready answered 503 not_ready"],
        "notes": [] if openapi else [f"openapi: {base}/openapi.json absent (answered 404)"],
    }
    found["openapi"]["routes"] = 4 if openapi else None
    if not openapi:
        found["openapi"]["status_code"] = 404
    return found


def record(app_id: str, **kwargs: bool) -> CheckRecord:
    verdict = inventory_verdict(app_id, details(app_id, **kwargs))
    outcome = "passed" if verdict.passed else "failed"
    marks = {"phase": 0, "app": app_id, "hitl_gate": None, "tags": ("second_confirmation",)}
    return CheckRecord(
        f"suites/test_inventory.py::test_inventory[{app_id}]",
        marks,
        outcome=outcome,
        verdicts=[verdict],
    )


def model_of(records: list[CheckRecord]) -> ResultsModel:
    model = ResultsModel(run_info={"target": "deployment named by map.json", "system_map": "m"})
    for item in records:
        model.checks[item.nodeid] = item
    return model


def rows(text: str) -> dict[str, str]:
    return {
        line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| A")
    }


def test_every_app_gets_a_row_with_what_was_found(tmp_path: Path) -> None:
    records = [record(a) for a in APP_IDS if a not in ("A2", "A5")]
    records += [record("A2", ready=False), record("A5", openapi=False)]
    write_inventory_report(model_of(records), settings(tmp_path))
    text = (tmp_path / "reports" / INVENTORY_REPORT).read_text()
    assert "**Result: 7 of 8 apps PASS**" in text
    assert "env `staging`" in text
    table = rows(text)
    assert list(table) == list(APP_IDS)
    assert "**PASS** (CHECK_PASSED)" in table["A1"]
    assert "200 status=ok app_id=A1" in table["A1"]
    assert "| 4 (map: 4) |" in table["A1"]
    assert "A1-1.0" in table["A1"]
    assert "**FAIL** (CHECK_FAILED)" in table["A2"]
    assert "503 not_ready" in table["A2"]
    assert "answered 503 not_ready" in table["A2"]
    assert "**PASS**" in table["A5"]
    assert "absent (404)" in table["A5"]
    assert "openapi.json absent (answered 404)" in table["A5"]
    assert "NOT RUN" not in text


def test_an_app_whose_check_did_not_run_is_listed_as_not_run(tmp_path: Path) -> None:
    records = [record(a) for a in APP_IDS if a != "A6"]
    skipped = CheckRecord(
        "suites/test_inventory.py::test_inventory[A7]",
        {"phase": 0, "app": "A7", "hitl_gate": None, "tags": ()},
        outcome="skipped",
        skip_reason="no network",
    )
    records = [r for r in records if r.nodeid != skipped.nodeid] + [skipped]
    write_inventory_report(model_of(records), settings(tmp_path))
    text = (tmp_path / "reports" / INVENTORY_REPORT).read_text()
    assert "**Result: 6 of 8 apps PASS**; not run: A6, A7" in text
    table = rows(text)
    assert "**NOT RUN**" in table["A6"]
    assert "check did not run" in table["A6"]
    assert "**NOT RUN**" in table["A7"]
    assert "skipped: no network" in table["A7"]


def test_no_phase_0_check_writes_nothing(tmp_path: Path) -> None:
    liveness = CheckRecord(
        "suites/test_liveness.py::test_dual_source_liveness[A1]",
        {"phase": 1, "app": "A1", "hitl_gate": None, "tags": ("liveness",)},
    )
    write_inventory_report(model_of([liveness]), settings(tmp_path))
    assert not (tmp_path / "reports").exists()
