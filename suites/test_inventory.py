"""Phase 0: inventory. Every app of the target answers /health as itself and is ready;
its OpenAPI document and route count are recorded (an absent document is noted, not failed).

Each app's check asks that app once, GET only, through the harness's client (read-only
against ``prod_observe``); the logic lives in :mod:`secondconf.checks.inventory`.
"""

from __future__ import annotations

from collections.abc import Callable

import allure
import pytest
from secondconf.checks.inventory import check_inventory
from secondconf.contract.platform import APP_IDS
from secondconf.engine.verdict import Verdict
from secondconf.pytest_plugin.state import SETTINGS_KEY
from secondconf.target.deployment import Target

pytestmark = [
    pytest.mark.second_confirmation,
    pytest.mark.phase(0),
    pytest.mark.prod_safe,
]


@pytest.mark.parametrize("app_id", [pytest.param(a, marks=pytest.mark.app(a)) for a in APP_IDS])
def test_inventory(
    app_id: str,
    target: Target,
    pytestconfig: pytest.Config,
    record_verdict: Callable[[Verdict], Verdict],
) -> None:
    allure.dynamic.label("phase", "0")
    allure.dynamic.label("app", app_id)
    allure.dynamic.label("check", "inventory")
    env = pytestconfig.stash[SETTINGS_KEY].env.value
    verdict = check_inventory(target.system_map, app_id, env=env)
    with allure.step(f"{verdict.check} [{verdict.source}]: {verdict.outcome.value}"):
        allure.attach(
            verdict.summary() + "\n" + "\n".join(verdict.details.get("problems", ())),
            name=f"{app_id} inventory",
            attachment_type=allure.attachment_type.TEXT,
        )
    record_verdict(verdict)
