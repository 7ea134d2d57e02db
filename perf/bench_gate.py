"""The release gate's wall time, per phase: where the ≤ 5 minute goal's time goes.

    .venv/bin/python perf/bench_gate.py [--out DIR] [-- suites [more pytest args]]

Runs the gate as ``scripts/main-job.sh`` does (``pytest -m second_confirmation suites``
on the embedded default) in a subprocess with this module loaded as a pytest plugin
(``-p bench_gate``): it writes down when each test's setup, call and teardown ran and how
long every session- or module-scoped fixture took to set up. Printed afterwards, as a
Markdown table: start-up (interpreter, plugin, collection), the embedded target's start,
each suite module grouped by its phase (``@pytest.mark.phase``: the harness's phases)
with the slowest session fixtures it set up, teardown (the last test's teardown, where
the session's fixtures stop, and the reports written at session end), and the total.
The gate's output (``gate.log``), its reports and evidence go to ``--out`` (default: a new
folder under /tmp), where no other run overwrites them; docs/perf.md has one run's table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

TIMES_ENV = "BENCH_GATE_TIMES"  # where the plugin half writes its record (JSON)
ROOT = Path(__file__).resolve().parents[1]
INFRASTRUCTURE = ("target",)  # session fixtures counted apart: the target's start

# --- the plugin half: runs inside the gate's pytest process --------------------------

_record: dict[str, Any] = {"items": {}, "reports": [], "fixtures": []}


def pytest_collection_finish(session: pytest.Session) -> None:
    for item in session.items:
        phase = item.get_closest_marker("phase")
        _record["items"][item.nodeid] = {
            "module": item.nodeid.split("::", 1)[0],
            "phase": phase.args[0] if phase and phase.args else None,
        }


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _record["reports"].append(
        {"nodeid": report.nodeid, "when": report.when, "start": report.start, "stop": report.stop}
    )


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    started = time.time()
    try:
        return (yield)
    finally:
        if fixturedef.scope in ("session", "package", "module"):
            _record["fixtures"].append(
                {"name": fixturedef.argname, "start": started, "stop": time.time()}
            )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish() -> Generator[None, None, None]:
    _record["sessionfinish_start"] = time.time()
    try:
        return (yield)
    finally:
        _record["sessionfinish_stop"] = time.time()
        path = os.environ.get(TIMES_ENV)
        if path:
            Path(path).write_text(json.dumps(_record))


# --- the bench half: runs the gate and reads the record ------------------------------


@dataclass
class Row:
    name: str
    phase: int | None
    seconds: float = 0.0
    tests: int = 0
    fixtures: list[tuple[str, float]] = field(default_factory=list)


def run_gate(pytest_args: list[str], out: Path, times: Path) -> tuple[float, float, int]:
    command = [
        str(ROOT / ".venv/bin/pytest"),
        "-m",
        "second_confirmation",
        "-p",
        "no:cacheprovider",
        "-p",
        "bench_gate",
        f"--reports-dir={out / 'reports'}",
        f"--evidence-dir={out / 'evidence'}",
        *pytest_args,
    ]
    env = dict(os.environ)
    env[TIMES_ENV] = str(times)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "perf"), env.get("PYTHONPATH")]))
    with (out / "gate.log").open("w") as log:
        spawned = time.time()
        status = subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        ended = time.time()
    return spawned, ended, status.returncode


def _spans(record: dict[str, Any]) -> Iterator[tuple[str, str, float, float]]:
    for report in record["reports"]:
        yield report["nodeid"], report["when"], report["start"], report["stop"]


def _module_setting_up(
    spans: list[tuple[str, str, float, float]], items: dict[str, Any], at: float
) -> str | None:
    """The suite module whose test was in its setup at ``at`` (when a fixture started)."""
    for nodeid, when, start, stop in spans:
        if when == "setup" and start <= at <= stop:
            return str(items.get(nodeid, {}).get("module", nodeid.split("::", 1)[0]))
    return None


def table(record: dict[str, Any], spawned: float, ended: float) -> list[str]:
    spans = list(_spans(record))
    if not spans:
        return [f"no test ran: {ended - spawned:.1f} s in all (see the log)"]
    items = record["items"]
    infra = [f for f in record["fixtures"] if f["name"] in INFRASTRUCTURE]
    infra_s = sum(f["stop"] - f["start"] for f in infra)
    last_teardown = max((s for s in spans if s[1] == "teardown"), key=lambda s: s[3])
    rows: dict[str, Row] = {}
    for nodeid, when, start, stop in spans:
        if (nodeid, when, start, stop) == last_teardown:
            continue
        info = items.get(nodeid, {"module": nodeid.split("::", 1)[0], "phase": None})
        row = rows.setdefault(info["module"], Row(info["module"], info["phase"]))
        row.seconds += stop - start
        row.tests += when == "call"
    for fixture in record["fixtures"]:
        seconds = fixture["stop"] - fixture["start"]
        if fixture["name"] not in INFRASTRUCTURE:  # its own time: without the target's start
            seconds -= sum(
                f["stop"] - f["start"]
                for f in infra
                if fixture["start"] <= f["start"] and f["stop"] <= fixture["stop"]
            )
        module = _module_setting_up(spans, items, fixture["start"])
        if module not in rows:
            continue
        if fixture["name"] in INFRASTRUCTURE:
            rows[module].seconds -= seconds
        elif seconds >= 1.0:
            rows[module].fixtures.append((fixture["name"], seconds))
    startup = min(s[2] for s in spans) - spawned
    teardown = (last_teardown[3] - last_teardown[2]) + (ended - max(s[3] for s in spans))
    lines = [
        "| part | tests | wall time | of which (session fixtures set up there) |",
        "|---|---|---|---|",
        f"| start-up (interpreter, plugin, collection) | – | {startup:.1f} s | |",
        f"| the embedded target's start (`target`) | – | {infra_s:.1f} s | |",
    ]
    by_phase: dict[int | None, list[Row]] = {}
    for row in rows.values():
        by_phase.setdefault(row.phase, []).append(row)
    for phase in sorted(by_phase, key=lambda p: (p is None, p or 0)):
        phase_rows = by_phase[phase]
        for row in phase_rows:
            detail = ", ".join(
                f"{n} {s:.1f} s" for n, s in sorted(row.fixtures, key=lambda f: -f[1])
            )
            lines.append(
                f"| phase {phase}: {row.name} | {row.tests} | {row.seconds:.1f} s | {detail} |"
            )
        if len(phase_rows) > 1:
            total = sum(r.seconds for r in phase_rows)
            lines.append(
                f"| **phase {phase}** | {sum(r.tests for r in phase_rows)} | **{total:.1f} s** | |"
            )
    finish = record.get("sessionfinish_stop", 0.0) - record.get("sessionfinish_start", 0.0)
    lines.append(
        f"| teardown (session fixtures stop; reports at session end {finish:.1f} s) "
        f"| – | {teardown:.1f} s | |"
    )
    lines.append(
        f"| **total** | {sum(r.tests for r in rows.values())} | **{ended - spawned:.1f} s** | |"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder for the gate's log, reports, evidence")
    parser.add_argument(
        "pytest_args", nargs="*", default=["suites"], help="after --: pytest's paths and options"
    )
    args = parser.parse_args()
    out: Path = args.out or Path(tempfile.mkdtemp(prefix="bench-gate-"))
    out.mkdir(parents=True, exist_ok=True)
    times = out / "times.json"
    load_before = os.getloadavg()[0]
    spawned, ended, status = run_gate(args.pytest_args, out, times)
    load_after = os.getloadavg()[0]
    record = json.loads(times.read_text()) if times.exists() else {"reports": [], "items": {}}
    print(
        f"gate exit status {status}; log, reports and evidence in {out}; {os.cpu_count()} cores, "
        f"load average {load_before:.1f} at the start, {load_after:.1f} at the end"
    )
    print("\n".join(table(record, spawned, ended)))
    sys.exit(0)


if __name__ == "__main__":
    main()
