"""The load profiles' pacing (perf/locust_pacing.py): each user starts at its own random
phase of the period and keeps it, so N users at one rate do not arrive as one burst."""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

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


@pytest.mark.parametrize("profile", ["locustfile_baseline.py", "locustfile_a6_register_billing.py"])
def test_every_profile_paces_its_users_with_the_pacer(profile: str) -> None:
    source = (PACING_PATH.parent / profile).read_text(encoding="utf-8")

    assert "Pacer.at_random_phase(" in source
    assert "constant_throughput" not in source
    assert "constant_pacing" not in source
