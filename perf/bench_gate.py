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
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

TIMES_ENV = "BENCH_GATE_TIMES"  # where the plugin half writes its record (JSON)
# The gate's --basetemp: the embedded target runs detached (its supervisor is no child of
# pytest), and its processes are found by this folder on their command lines.
BASETEMP_ENV = "BENCH_GATE_BASETEMP"
ROOT = Path(__file__).resolve().parents[1]
INFRASTRUCTURE = ("target",)  # session fixtures counted apart: the target's start

# --- the plugin half: runs inside the gate's pytest process --------------------------

_record: dict[str, Any] = {"items": {}, "reports": [], "fixtures": [], "finalized": []}


def tree_cpu_s() -> float:
    """CPU seconds (user + system) used so far by this process and every process under it,
    and by the embedded target's detached tree: each one's own and its reaped children's
    (the apps, Chromium, locust). On a shared machine the wall time measures the queue;
    this is the work, which on an idle machine takes at least ``cpu / cores`` of wall time.

    The detached tree's figure is kept as its highest so far: its processes are not ours to
    reap, so once they stop (at the session's end) their CPU can no longer be read."""
    used = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        used += usage.ru_utime + usage.ru_stime
    marker = os.environ.get(BASETEMP_ENV, "").encode()
    me = os.getpid()
    parents: dict[int, list[int]] = {}
    cpu: dict[int, float] = {}
    detached_roots = []
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                ours = bool(marker) and marker in cmdline.read()
        except (OSError, IndexError):
            continue
        pid = int(entry)
        cpu[pid] = sum(int(v) for v in fields[11:15]) / ticks  # utime stime cutime cstime
        parents.setdefault(int(fields[1]), []).append(pid)
        if ours and pid != me:
            detached_roots.append(pid)
    seen: set[int] = {me}

    def walk(roots: list[int]) -> float:
        total, pending = 0.0, list(roots)
        while pending:
            pid = pending.pop()
            if pid in seen or pid not in cpu:
                continue
            seen.add(pid)
            pending.extend(parents.get(pid, []))
            total += cpu[pid]
        return total

    used += walk(parents.get(me, []))
    _detached_max[0] = max(_detached_max[0], walk(detached_roots))
    return used + _detached_max[0]


_detached_max = [0.0]


def pytest_collection_finish(session: pytest.Session) -> None:
    _record["collected"] = {"at": time.time(), "cpu": tree_cpu_s()}
    for item in session.items:
        phase = item.get_closest_marker("phase")
        _record["items"][item.nodeid] = {
            "module": item.nodeid.split("::", 1)[0],
            "phase": phase.args[0] if phase and phase.args else None,
        }


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _record["reports"].append(
        {
            "nodeid": report.nodeid,
            "when": report.when,
            "start": report.start,
            "stop": report.stop,
            "cpu": tree_cpu_s(),
        }
    )


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    if fixturedef.scope not in ("session", "package", "module"):
        return (yield)
    started, cpu = time.time(), tree_cpu_s()
    try:
        return (yield)
    finally:
        _record["fixtures"].append(
            {
                "name": fixturedef.argname,
                "start": started,
                "stop": time.time(),
                "cpu": tree_cpu_s() - cpu,
            }
        )


def pytest_fixture_post_finalizer(fixturedef: pytest.FixtureDef[Any]) -> None:
    """When each session or module fixture has stopped: the gap since the one before it is
    its own teardown (the target's stop, in the last test's teardown)."""
    if fixturedef.scope in ("session", "package", "module") and fixturedef.cached_result:
        _record["finalized"].append({"name": fixturedef.argname, "at": time.time()})


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish() -> Generator[None, None, None]:
    _record["sessionfinish_start"] = time.time()
    try:
        return (yield)
    finally:
        _record["sessionfinish_stop"] = time.time()
        _record["sessionfinish_cpu"] = tree_cpu_s()
        path = os.environ.get(TIMES_ENV)
        if path:
            Path(path).write_text(json.dumps(_record))


# --- the bench half: runs the gate and reads the record ------------------------------


@dataclass
class Part:
    """One row of the table: a suite module (or start-up, target start, teardown)."""

    name: str
    phase: int | None = None
    wall_s: float = 0.0
    cpu_s: float = 0.0
    tests: int = 0
    notes: list[str] = field(default_factory=list)


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
        f"--basetemp={out / 'tmp'}",
        *pytest_args,
    ]
    env = dict(os.environ)
    env[TIMES_ENV] = str(times)
    env[BASETEMP_ENV] = str(out / "tmp")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "perf"), env.get("PYTHONPATH")]))
    with (out / "gate.log").open("w") as log:
        spawned = time.time()
        status = subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        ended = time.time()
    return spawned, ended, status.returncode


def parts(record: dict[str, Any], spawned: float, ended: float) -> list[Part]:
    """Start-up, the target's start, one part per suite module (in the order run), teardown.

    Each report's wall time and the CPU used since the previous report go to its module;
    the target's start (inside some test's setup) and the last teardown (where the session
    fixtures stop) are taken out into their own parts."""
    reports = record["reports"]
    items = record["items"]
    last = max(range(len(reports)), key=lambda i: reports[i]["stop"])
    target = Part("the embedded target's start (`target` fixture)")
    for fixture in record["fixtures"]:
        if fixture["name"] in INFRASTRUCTURE:
            target.wall_s += fixture["stop"] - fixture["start"]
            target.cpu_s += fixture["cpu"]
    startup = Part(
        "start-up (interpreter, plugin, collection)",
        wall_s=reports[0]["start"] - spawned,
        cpu_s=record["collected"]["cpu"],
    )
    modules: dict[str, Part] = {}
    per_test: dict[str, list[float]] = {}
    cpu_before = record["collected"]["cpu"]
    for index, report in enumerate(reports):
        cpu, cpu_before = report["cpu"] - cpu_before, report["cpu"]
        if index == last:
            continue
        info = items.get(report["nodeid"], {})
        module = info.get("module", report["nodeid"].split("::", 1)[0])
        part = modules.setdefault(module, Part(module, info.get("phase")))
        part.wall_s += report["stop"] - report["start"]
        part.cpu_s += cpu
        part.tests += report["when"] == "call"
        spent = per_test.setdefault(report["nodeid"], [0.0, 0.0])
        spent[0] += report["stop"] - report["start"]
        spent[1] += cpu
    for fixture in record["fixtures"]:
        module = _module_setting_up(reports, items, fixture["start"])
        if module is None or module not in modules:
            continue
        seconds = fixture["stop"] - fixture["start"]
        if fixture["name"] in INFRASTRUCTURE:
            modules[module].wall_s -= seconds
            modules[module].cpu_s -= fixture["cpu"]
            test = _test_setting_up(reports, fixture["start"])
            if test in per_test:
                per_test[test][0] -= seconds
                per_test[test][1] -= fixture["cpu"]
    for nodeid, (wall_s, cpu_s) in per_test.items():
        module = items.get(nodeid, {}).get("module", nodeid.split("::", 1)[0])
        if wall_s >= 10.0 and module in modules:
            name = nodeid.split("::", 1)[-1]
            modules[module].notes.append(f"{name} {wall_s:.0f} s (CPU {cpu_s:.0f} s)")
    final = reports[last]
    teardown = Part(
        "teardown (session fixtures stop, reports written)",
        wall_s=(final["stop"] - final["start"]) + (ended - final["stop"]),
        cpu_s=record.get("sessionfinish_cpu", final["cpu"]) - reports[last - 1]["cpu"],
    )
    previous = final["start"]
    for stopped in record.get("finalized", []):
        if final["start"] <= stopped["at"] <= final["stop"]:
            if stopped["at"] - previous >= 1.0:
                teardown.notes.append(f"{stopped['name']} stop {stopped['at'] - previous:.1f} s")
            previous = stopped["at"]
    finish = record.get("sessionfinish_stop", 0.0) - record.get("sessionfinish_start", 0.0)
    teardown.notes.append(f"reports at session end {finish:.1f} s")
    return [startup, target, *modules.values(), teardown]


def _module_setting_up(
    reports: list[dict[str, Any]], items: dict[str, Any], at: float
) -> str | None:
    """The suite module whose test was in its setup at ``at`` (when a fixture started)."""
    nodeid = _test_setting_up(reports, at)
    if nodeid is None:
        return None
    return str(items.get(nodeid, {}).get("module", nodeid.split("::", 1)[0]))


def _test_setting_up(reports: list[dict[str, Any]], at: float) -> str | None:
    for report in reports:
        if report["when"] == "setup" and report["start"] <= at <= report["stop"]:
            return str(report["nodeid"])
    return None


def table(record: dict[str, Any], spawned: float, ended: float) -> list[str]:
    if not record.get("reports"):
        return [f"no test ran: {ended - spawned:.1f} s in all (see the log)"]
    rows = parts(record, spawned, ended)
    lines = [
        "| part | tests | wall time | CPU (gate, target, browser, locust) "
        "| of which (tests ≥ 10 s, teardown ≥ 1 s) |",
        "|---|---|---|---|---|",
    ]
    phases: dict[int | None, list[Part]] = {}
    for row in rows[2:-1]:
        phases.setdefault(row.phase, []).append(row)

    def line(row: Part, name: str) -> str:
        tests = str(row.tests) if row.tests else "–"
        return (
            f"| {name} | {tests} | {row.wall_s:.1f} s | {row.cpu_s:.1f} s | "
            f"{'; '.join(row.notes)} |"
        )

    lines += [line(rows[0], rows[0].name), line(rows[1], rows[1].name)]
    for phase in sorted(phases, key=lambda p: (p is None, p or 0)):
        group = phases[phase]
        lines += [line(row, f"phase {phase}: {row.name}") for row in group]
        if len(group) > 1:
            total = Part(
                f"**phase {phase}**",
                wall_s=sum(r.wall_s for r in group),
                cpu_s=sum(r.cpu_s for r in group),
                tests=sum(r.tests for r in group),
            )
            lines.append(line(total, total.name))
    lines.append(line(rows[-1], rows[-1].name))
    cpu_total = record.get("sessionfinish_cpu", rows[-1].cpu_s)
    every = Part(
        "**total**", wall_s=ended - spawned, cpu_s=cpu_total, tests=sum(r.tests for r in rows)
    )
    lines.append(line(every, every.name))
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
