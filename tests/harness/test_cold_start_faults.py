"""B2B-04 catches a cold start without warmers, and only there.

Against a dedicated ecosystem: clean, the first request after a cold start of A6 and of A7
is inside the SLO; with the ``warmers`` switch off on A6 (kept over its cold start), A6's
first request pays the warm-up and FAILs while A7 still PASSes.
"""

from __future__ import annotations

import ssl

import httpx
import pytest
from secondconf.checks.coldstart.measure import (
    B2B_PROBES,
    WARMUP_S,
    judge_cold_start,
    measure_cold_start,
)
from secondconf.contract.platform import SyntheticIdentity
from secondconf.core.clock import SystemClock
from secondconf.engine.verdict import Outcome, Verdict
from secondconf.target.identity import fetch_token_sync

from tests.harness.conftest import HarnessTarget

ACTIONS: list[str] = []


def record(app_id: str, what: str, *, rollback: bool) -> None:
    ACTIONS.append(f"{app_id}: {what}")


def cold_starts(target: HarnessTarget) -> dict[str, Verdict]:
    verify = ssl.create_default_context(cafile=str(target.map.ca_bundle))
    with httpx.Client(verify=verify, trust_env=False, timeout=10.0) as client:
        token = fetch_token_sync(
            client,
            target.map,
            target.secret("OIDC_CLIENT_SECRET"),
            SyntheticIdentity.PROVIDER.value,
        )
        return {
            probe.app_id: judge_cold_start(
                measure_cold_start(
                    probe,
                    target.eco,
                    record,
                    client,
                    target.map,
                    token.authorization,
                    SystemClock(),
                )
            )
            for probe in B2B_PROBES
        }


@pytest.mark.serial  # timing-sensitive (a first request against 120 ms): runs alone
def test_only_a6_without_warmers_fails_the_first_request_after_a_cold_start(
    harness_target: HarnessTarget,
) -> None:
    clean = cold_starts(harness_target)
    assert {app: v.outcome for app, v in clean.items()} == {
        "A6": Outcome.PASS,
        "A7": Outcome.PASS,
    }, {app: v.details for app, v in clean.items()}
    assert ACTIONS == ["A6: cold start (1 s warm-up)", "A7: cold start (1 s warm-up)"]

    harness_target.set_faults("A6", {"disabled_rules": ["warmers"]})
    try:
        faulted = cold_starts(harness_target)
    finally:
        harness_target.set_faults("A6", {"disabled_rules": []})
    assert faulted["A6"].outcome is Outcome.FAIL
    assert faulted["A6"].estimate is not None
    assert faulted["A6"].estimate >= WARMUP_S * 1000 * 0.9
    assert faulted["A7"].outcome is Outcome.PASS
