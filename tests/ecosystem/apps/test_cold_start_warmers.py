"""Warmers (contract §13): after a cold start the warm-up runs before ``/ready`` turns 200,
so the first request is fast; with the ``warmers`` switch off (kept over the cold start)
``/ready`` is 200 at once and the first request pays the warm-up."""

from __future__ import annotations

import time

import pytest

from tests.ecosystem.apps.target import PROVIDER, Target, eventually

WARMUP_S = 1.0
APP = "A6"


def first_request_s(target: Target) -> float:
    started = time.perf_counter()
    answer = target.get(APP, "/v1/listings", target.auth(PROVIDER))
    assert answer.status_code == 200
    return time.perf_counter() - started


@pytest.mark.exclusive
def test_with_warmers_the_first_request_after_a_cold_start_is_warm(target: Target) -> None:
    target.eco.cold_start(APP, WARMUP_S)
    assert eventually(lambda: target.get(APP, "/ready").status_code == 200, 10.0)
    assert first_request_s(target) < WARMUP_S / 2


@pytest.mark.exclusive
def test_without_warmers_the_first_request_pays_the_warm_up(target: Target) -> None:
    target.set_faults(APP, disabled_rules=["warmers"])
    try:
        target.eco.cold_start(APP, WARMUP_S)
        assert target.get(APP, "/ready").status_code == 200
        assert "warmers" in target.get(APP, "/_admin/faults", target.admin()).json()[
            "disabled_rules"
        ]
        assert first_request_s(target) >= WARMUP_S * 0.9
        assert first_request_s(target) < WARMUP_S / 2
    finally:
        target.clear_faults(APP)
    target.eco.cold_start(APP, 0.0)  # the next cold start has its warmers again
    assert eventually(lambda: target.get(APP, "/ready").status_code == 200, 10.0)
    assert target.get(APP, "/_admin/faults", target.admin()).json()["disabled_rules"] == []
