"""perf/bench_gate.py's arithmetic: each module's wall time and CPU, the target's start
taken out of the test that set it up, the last teardown (the target's stop) apart."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

BENCH = Path(__file__).resolve().parents[2] / "perf" / "bench_gate.py"


def _bench() -> ModuleType:
    """The script as a module (not as a plugin: its hooks stay unregistered here)."""
    if "bench_gate" in sys.modules:
        return sys.modules["bench_gate"]
    spec = importlib.util.spec_from_file_location("bench_gate", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_gate"] = module  # its dataclasses resolve their annotations there
    spec.loader.exec_module(module)
    return module


def _report(nodeid: str, when: str, start: float, stop: float, cpu: float) -> dict[str, Any]:
    return {"nodeid": nodeid, "when": when, "start": start, "stop": stop, "cpu": cpu}


LIVE, FUNNEL = "suites/test_liveness.py::test_a", "suites/test_funnel_b2c.py::test_b"
RECORD: dict[str, Any] = {
    "collected": {"at": 104.0, "cpu": 3.0},
    "items": {
        LIVE: {"module": "suites/test_liveness.py", "phase": 1},
        FUNNEL: {"module": "suites/test_funnel_b2c.py", "phase": 3},
    },
    "reports": [
        _report(LIVE, "setup", 105.0, 145.0, 30.0),  # the target's start (10 s, 6 CPU-s) inside
        _report(LIVE, "call", 145.0, 146.0, 31.0),
        _report(LIVE, "teardown", 146.0, 146.0, 31.0),
        _report(FUNNEL, "setup", 146.0, 246.0, 111.0),
        _report(FUNNEL, "call", 246.0, 247.0, 112.0),
        _report(FUNNEL, "teardown", 247.0, 277.0, 112.5),  # the session fixtures stop
    ],
    "fixtures": [{"name": "target", "start": 106.0, "stop": 116.0, "cpu": 6.0}],
    "finalized": [{"name": "b2c_run", "at": 247.5}, {"name": "target", "at": 276.0}],
    "sessionfinish_start": 277.0,
    "sessionfinish_stop": 279.0,
    "sessionfinish_cpu": 113.0,
}


def test_each_part_gets_its_own_wall_time_and_cpu() -> None:
    parts = {p.name: p for p in _bench().parts(RECORD, spawned=100.0, ended=280.0)}
    startup = parts["start-up (interpreter, plugin, collection)"]
    assert (startup.wall_s, startup.cpu_s) == (5.0, 3.0)
    target = parts["the embedded target's start (`target` fixture)"]
    assert (target.wall_s, target.cpu_s) == (10.0, 6.0)
    liveness = parts["suites/test_liveness.py"]
    assert (liveness.wall_s, liveness.cpu_s, liveness.tests) == (31.0, 22.0, 1)
    assert liveness.notes == ["test_a 31 s (CPU 22 s)"]
    funnel = parts["suites/test_funnel_b2c.py"]
    assert (funnel.wall_s, funnel.cpu_s, funnel.tests) == (101.0, 81.0, 1)
    teardown = parts["teardown (session fixtures stop, reports written)"]
    assert teardown.wall_s == 33.0  # the last teardown and the session's end
    assert teardown.cpu_s == 1.0
    assert teardown.notes == ["target stop 28.5 s", "reports at session end 2.0 s"]


def test_the_table_sums_each_phase_and_the_whole_run() -> None:
    lines = _bench().table(RECORD, spawned=100.0, ended=280.0)
    assert lines[-1] == "| **total** | 2 | 180.0 s | 113.0 s |  |"
    assert any(
        line.startswith("| phase 3: suites/test_funnel_b2c.py | 1 | 101.0 s |") for line in lines
    )
