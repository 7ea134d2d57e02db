"""Phase 3: a key's life in time (contract §4): the 15-minute TTL on both sides of its
boundary, and a state machine of submits, replays, mismatches and clock moves whose
invariant is side effects = distinct keys accepted within the TTL.

Both walk one countable route (:func:`secondconf.checks.hardening.walk.countable_route`) and move
the app's clock through the target's control where it has one (``fault_control``); without
it, the TTL check waits the real 15 minutes (``slow``) and the state machine keeps to one
TTL. The logic lives in :mod:`secondconf.checks.hardening.ttl` and
:mod:`secondconf.checks.hardening.lifecycle`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from secondconf.checks.hardening.lifecycle import check_lifecycle, ttl_not_crossed, waiting_shift
from secondconf.checks.hardening.model import HardeningRun
from secondconf.checks.hardening.ttl import check_ttl_boundary
from secondconf.checks.hardening.walk import NoRouteError, RouteClient, countable_route
from secondconf.core.secret import Secret
from secondconf.engine.verdict import Verdict
from secondconf.pytest_plugin.deliberate import selected, skip_covered_elsewhere
from secondconf.settings import HarnessSettings
from secondconf.target.control import TargetControl
from secondconf.target.deployment import Target

pytestmark = [pytest.mark.second_confirmation, pytest.mark.idempotency, pytest.mark.phase(3)]

RecordVerdict = Callable[[Verdict], Verdict]
SecretOf = Callable[[str], Secret]


@pytest.fixture
def route(
    target: Target, hardening_run: HardeningRun, settings: HarnessSettings, secret: SecretOf
) -> Iterator[RouteClient]:
    """The countable route, as the synthetic student."""
    client_secret = secret("OIDC_CLIENT_SECRET")
    try:
        label = countable_route(hardening_run)
        with RouteClient(target.system_map, settings.env.value, client_secret, label) as client:
            yield client
    except NoRouteError as error:
        pytest.fail(f"no route to walk: {error}", pytrace=False)


@pytest.mark.rules("IDEM-13")
def test_ttl_boundary(
    request: pytest.FixtureRequest,
    fault_control: TargetControl | None,
    route: RouteClient,
    settings: HarnessSettings,
    secret: SecretOf,
    exclusive_target_load: None,
    record_verdict: RecordVerdict,
) -> None:
    """IDEM-13 through the target's clock control."""
    if fault_control is None:
        if selected(request, "test_ttl_boundary_real_time"):
            skip_covered_elsewhere(
                request, "clock-control variant: no clock control, the real-time one runs"
            )
        record_verdict(ttl_not_crossed(route.app_id))
        return
    shift = fault_control.platform_clock_offset
    a8_key, deadline_s = secret("A8_TELEMETRY_KEY"), settings.telemetry_deadline_s
    record_verdict(check_ttl_boundary(route, shift, a8_key, deadline_s))


@pytest.mark.slow
@pytest.mark.rules("IDEM-13")
def test_ttl_boundary_real_time(
    request: pytest.FixtureRequest,
    fault_control: TargetControl | None,
    route: RouteClient,
    settings: HarnessSettings,
    secret: SecretOf,
    record_verdict: RecordVerdict,
) -> None:
    """IDEM-13 by waiting the real TTL, for a target without clock control."""
    if fault_control is not None and selected(request, "test_ttl_boundary"):
        skip_covered_elsewhere(request, "real-time variant: clock control exists")
    a8_key, deadline_s = secret("A8_TELEMETRY_KEY"), settings.telemetry_deadline_s
    record_verdict(check_ttl_boundary(route, waiting_shift(), a8_key, deadline_s))


@pytest.mark.rules("IDEM-18")
def test_idempotency_state_machine(
    fault_control: TargetControl | None,
    route: RouteClient,
    hardening_run: HardeningRun,
    settings: HarnessSettings,
    secret: SecretOf,
    exclusive_target_load: None,
    record_verdict: RecordVerdict,
) -> None:
    """IDEM-18: Hypothesis walks keys through submit / replay / mismatch / clock moves."""
    baseline = hardening_run.baselines.get(route.route.label) or {}
    a8_key, deadline_s = secret("A8_TELEMETRY_KEY"), settings.telemetry_deadline_s
    record_verdict(check_lifecycle(route, fault_control, a8_key, deadline_s, baseline))
