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

import httpx
import pytest
from secondconf.checks.hardening.fuzzing import (
    HeaderMinter,
    fuzz_app,
    fuzz_verdict,
    refuse_prod_observe,
)
from secondconf.contract.platform import APP_IDS, identity_for_role
from secondconf.core.secret import Secret
from secondconf.engine.verdict import Verdict
from secondconf.settings import HarnessSettings
from secondconf.target.deployment import Target
from secondconf.target.identity import fetch_token_sync

pytestmark = [pytest.mark.second_confirmation, pytest.mark.idempotency, pytest.mark.phase(3)]


@pytest.mark.rules("HDR-06")
@pytest.mark.parametrize("app_id", [pytest.param(a, marks=pytest.mark.app(a)) for a in APP_IDS])
def test_contract_fuzzing(
    app_id: str,
    target: Target,
    settings: HarnessSettings,
    secret: Callable[[str], Secret],
    sync_client: httpx.Client,
    record_verdict: Callable[[Verdict], Verdict],
) -> None:
    env = settings.env.value
    refuse_prod_observe(env)
    system_map = target.system_map
    app = system_map.apps[app_id]
    identity = identity_for_role(app.role)
    if app_id == system_map.telemetry_app_id:  # A8's API takes its own bearer, not an A1 token
        auth = {"Authorization": f"Bearer {secret('A8_TELEMETRY_KEY').reveal()}"}
    else:
        token = fetch_token_sync(
            sync_client, system_map, secret("OIDC_CLIENT_SECRET"), identity.value
        )
        auth = token.authorization
    minter = HeaderMinter(identity.value)
    result = fuzz_app(sync_client, app_id, app.base_url, env=env, minter=minter, auth=auth)
    record_verdict(fuzz_verdict(result))
