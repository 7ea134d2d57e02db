"""HDR-06: schemathesis against each app's OpenAPI document (contract §4's 428 rule).

Each app's check fuzzes the operations its document marks ``x-contract-rules: true`` (A1
and A8 mark none: their GET operations are fuzzed for crashes only), with a fresh
idempotency key and trace id per call, the synthetic tags and the bearer token of the
app's synthetic identity (the provider for the provider portal, else the student). Never
against ``prod_observe``: not ``prod_safe``, and
:func:`secondconf.checks.hardening.fuzzing.fuzz_app` refuses it before sending anything.
The logic lives in :mod:`secondconf.checks.hardening.fuzzing`.
"""

from __future__ import annotations

from collections.abc import Callable

import allure
import pytest
from secondconf.checks.hardening.fuzzing import (
    HeaderMinter,
    fuzz_app,
    fuzz_verdict,
    refuse_prod_observe,
)
from secondconf.contract.platform import APP_IDS, SyntheticIdentity
from secondconf.engine.verdict import Verdict
from secondconf.pytest_plugin.state import SETTINGS_KEY
from secondconf.target.client import harness_sync_client
from secondconf.target.deployment import Target
from secondconf.target.identity import fetch_token_sync

pytestmark = [pytest.mark.second_confirmation, pytest.mark.idempotency, pytest.mark.phase(3)]

PROVIDER_ROLE = "provider_portal"
TELEMETRY_APP = "A8"


@pytest.mark.parametrize("app_id", [pytest.param(a, marks=pytest.mark.app(a)) for a in APP_IDS])
def test_contract_fuzzing(
    app_id: str,
    target: Target,
    pytestconfig: pytest.Config,
    record_verdict: Callable[[Verdict], Verdict],
) -> None:
    allure.dynamic.label("phase", "3")
    allure.dynamic.label("app", app_id)
    allure.dynamic.label("check", "contract fuzzing")
    env = pytestconfig.stash[SETTINGS_KEY].env.value
    refuse_prod_observe(env)
    system_map = target.system_map
    app = system_map.apps[app_id]
    identity = (
        SyntheticIdentity.PROVIDER if app.role == PROVIDER_ROLE else SyntheticIdentity.STUDENT
    )
    with harness_sync_client(system_map, env=env, timeout_s=10.0) as client:
        if app_id == TELEMETRY_APP:  # A8's API takes its own bearer, not an A1 token
            auth = {"Authorization": f"Bearer {target.secret('A8_TELEMETRY_KEY').reveal()}"}
        else:
            token = fetch_token_sync(
                client, system_map, target.secret("OIDC_CLIENT_SECRET"), identity.value
            )
            auth = token.authorization
        result = fuzz_app(
            client, app_id, app.base_url, env=env, minter=HeaderMinter(identity.value), auth=auth
        )
    verdict = fuzz_verdict(result)
    with allure.step(f"{verdict.check} [{verdict.source}]: {verdict.outcome.value}"):
        allure.attach(
            "\n".join(
                [
                    verdict.summary(),
                    *verdict.details["violations"],
                    *(f"advisory: {a}" for a in verdict.details["advisory"]),
                    *(f"untested: {u}" for u in verdict.details["untested"]),
                ]
            ),
            name=f"{app_id} contract fuzzing",
            attachment_type=allure.attachment_type.TEXT,
        )
    record_verdict(verdict)
