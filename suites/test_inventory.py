"""Phase 0: inventory. Every app of the target answers /health as itself and is ready;
its OpenAPI document and route count are recorded (an absent document is noted, not failed).

Each app's check asks that app once, GET only, through the harness's client (read-only
against ``prod_observe``); the logic lives in :mod:`secondconf.checks.inventory`.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from secondconf.checks.inventory import check_inventory
from secondconf.contract.platform import APP_IDS
from secondconf.engine.verdict import Verdict
from secondconf.settings import HarnessSettings
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
    settings: HarnessSettings,
    record_verdict: Callable[[Verdict], Verdict],
) -> None:
    record_verdict(check_inventory(target.system_map, app_id, env=settings.env.value))
