"""The load profiles' pacing (perf/locust_pacing.py): each user starts at its own random
phase of the period and keeps it, so N users at one rate do not arrive as one burst."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest
from secondconf.checks.load.locust import locust_bin

PACING_PATH = Path(__file__).parents[2] / "perf" / "locust_pacing.py"


@cache
def _pacing() -> ModuleType:
    """perf/locust_pacing.py, imported under its own name (its dataclass needs the module)."""
    spec = importlib.util.spec_from_file_location("locust_pacing", PACING_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _pacer(rate: float, phase_fraction: float, clock: FakeClock):  # type: ignore[no-untyped-def]
    return _pacing().Pacer.at_random_phase(
        rate, clock=clock, phase=lambda low, high: low + phase_fraction * (high - low)
    )


def test_the_first_iteration_waits_its_phase_and_every_next_one_period() -> None:
    clock = FakeClock()
    pacer = _pacer(0.5, 0.25, clock)  # period 2 s, phase 0.5 s

    assert pacer.wait_s() == pytest.approx(0.5)
    clock.now += 0.5 + 0.3  # the first iteration took 0.3 s
    assert pacer.wait_s() == pytest.approx(1.7)
    clock.now += 1.7 + 0.9
    assert pacer.wait_s() == pytest.approx(1.1)  # starts stay at phase + k periods


def test_a_late_iteration_starts_the_next_at_once_and_does_not_catch_up() -> None:
    clock = FakeClock()
    pacer = _pacer(1.0, 0.0, clock)
    assert pacer.wait_s() == 0.0
    clock.now += 3.5  # ran 3.5 periods
    assert pacer.wait_s() == 0.0
    clock.now += 0.2
    assert pacer.wait_s() == pytest.approx(0.8)  # one period after the late start, no burst


def test_users_phases_cover_the_period() -> None:
    phases = [_pacing().Pacer.at_random_phase(0.5, clock=lambda: 0.0).wait_s() for _ in range(400)]

    assert all(0.0 <= phase <= 2.0 for phase in phases)
    assert min(phases) < 0.2
    assert max(phases) > 1.8


@pytest.mark.parametrize("rate", [0.0, -1.0])
def test_a_rate_that_is_not_positive_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="rate_per_user must be positive"):
        _pacing().Pacer.at_random_phase(rate)


# Run in locust's own virtualenv (locust patches the standard library with gevent): build
# each profile's user in a locust Environment, start it with its sleep recorded, and report
# what it waited and which headers it would send.
PROFILE_PROBE = """
import json, sys, time
import locust_synthetic
from locust.env import Environment
profile = __import__(sys.argv[1])
user_class = next(
    value for value in vars(profile).values()
    if isinstance(value, type) and issubclass(value, locust_synthetic.PacedSyntheticUser)
    and value is not locust_synthetic.PacedSyntheticUser
)
slept = []
locust_synthetic.time.sleep = slept.append
user = user_class(Environment(user_classes=[user_class]))
user.on_start()
started = time.perf_counter()
waits = [user.wait_time() for _ in range(3)]
print(json.dumps({
    "abstract": user_class.abstract,
    "period_s": 1.0 / user_class.rate_per_user,
    "first_sleep_s": slept,
    "waits_s": waits,
    "elapsed_s": time.perf_counter() - started,
    "headers": user.synthetic_headers(),
}))
"""


@pytest.mark.parametrize("profile", ["locustfile_baseline", "locustfile_a6_register_billing"])
def test_every_profile_paces_its_users_at_their_own_phase(profile: str, tmp_path: Path) -> None:
    python = locust_bin(PACING_PATH.parents[1]).with_name("python")  # locust's own venv
    system_map = tmp_path / "map.json"
    apps = {
        "A1": {"base_url": "https://127.0.0.1:9001"},
        "A6": {"base_url": "https://127.0.0.1:9006"},
    }
    system_map.write_text(json.dumps({"apps": apps}))
    (tmp_path / "provider_token").write_text("qa-token")
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(PACING_PATH.parent),
        "SECONDCONF_SYSTEM_MAP": str(system_map),
        "SECONDCONF_BASELINE_RATE_PER_USER": "0.5",
    }
    answer = subprocess.run(
        [str(python), "-c", PROFILE_PROBE, profile],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    seen = json.loads(answer.stdout.splitlines()[-1])

    assert seen["abstract"] is False
    assert seen["period_s"] == pytest.approx(2.0)
    [first_sleep] = seen["first_sleep_s"]
    assert 0.0 <= first_sleep <= 2.0  # waits out its own phase before its first iteration
    # then one period after each start, measured from the phase, not from now
    next_waits = [first_sleep + 2.0 * k for k in (1, 2, 3)]
    assert seen["waits_s"] == pytest.approx(next_waits, abs=seen["elapsed_s"] + 0.05)
    assert seen["headers"]["X-Test-Run"] == "true"
    assert seen["headers"]["X-Source"] == "qa"
    assert len(seen["headers"]["X-Trace-Id"]) == 32
