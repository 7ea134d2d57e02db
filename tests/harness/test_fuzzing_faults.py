"""HDR-06 against the reference target: clean, an app's fuzzing PASSes; with its 428 rule
turned off (``disabled_rules: ["require_428"]``), it FAILs naming ``missing_required_header``.

A4 stands for the apps (quick, no Stripe); the suite fuzzes all eight the same way.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from secondconf.checks.hardening.fuzzing import (
    MISSING_HEADER_CHECK,
    HeaderMinter,
    fuzz_app,
    fuzz_verdict,
)
from secondconf.contract.platform import SyntheticIdentity
from secondconf.engine.verdict import Outcome, Reason, Verdict
from secondconf.target.client import harness_sync_client
from secondconf.target.identity import fetch_token_sync

from tests.harness.conftest import HarnessTarget

APP = "A4"


def _fuzz(harness: HarnessTarget) -> Verdict:
    identity = SyntheticIdentity.STUDENT.value
    with harness_sync_client(harness.map, env="embedded", timeout_s=10.0) as client:
        token = fetch_token_sync(
            client, harness.map, harness.secret("OIDC_CLIENT_SECRET"), identity
        )
        result = fuzz_app(
            client,
            APP,
            harness.map.apps[APP].base_url,
            env="embedded",
            minter=HeaderMinter(identity),
            auth=token.authorization,
        )
    return fuzz_verdict(result)


@pytest.fixture
def without_428(harness_target: HarnessTarget) -> Iterator[HarnessTarget]:
    harness_target.set_faults(APP, {"disabled_rules": ["require_428"]})
    try:
        yield harness_target
    finally:
        harness_target.set_faults(APP, {"disabled_rules": []})


def test_the_clean_app_passes(harness_target: HarnessTarget) -> None:
    verdict = _fuzz(harness_target)
    assert (verdict.outcome, verdict.reason) == (Outcome.PASS, Reason.CHECK_PASSED), (
        verdict.details["violations"]
    )
    assert verdict.n > 0
    assert "POST /v1/work" in verdict.details["operations"]
    assert any(row["status"] == 428 for row in verdict.details["requests"])


def test_without_the_428_rule_the_app_fails_naming_the_check(without_428: HarnessTarget) -> None:
    verdict = _fuzz(without_428)
    assert (verdict.outcome, verdict.reason) == (Outcome.FAIL, Reason.CHECK_FAILED)
    assert verdict.details["rule"] == "HDR-06"
    missing = [v for v in verdict.details["violations"] if v.startswith(MISSING_HEADER_CHECK)]
    assert missing, verdict.details["violations"]
    assert all("POST /v1/work" in v for v in missing)
    assert not any(row["status"] == 428 for row in verdict.details["requests"])
