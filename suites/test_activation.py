"""Phase 5, activation and growth hygiene (contract §6, §7), as the synthetic student.

One scenario per module (:func:`secondconf.checks.activation.run.run_activation`): two
activations, one credit spend, a page of the check's own built and published twice, a few
views, impressions under trace ids sampled in and out at 10 %, then A8's events and its
activation dashboard for each trace. Each test judges one rule from what it saw:

* ACT-01: activation_first_use fires once per user;
* ACT-02: a spend lowers the balance by cost × 4, and credit_decrement says so;
* ACT-03: page_build_requested and page_published (once) for the page built;
* ACT-04: every page view emits cta_emitted naming the page and the arm shown;
* ACT-05: cta_impression held exactly for the traces sampled in at 10 %;
* ACT-06: the activation tile lists each of those events within 60 s.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from secondconf.checks.activation.judge import (
    judge_activation_once,
    judge_activation_tile,
    judge_credit_decrement,
    judge_cta_emitted,
    judge_impression_sampling,
    judge_pages,
)
from secondconf.checks.activation.run import ActivationRun, run_activation
from secondconf.core.clock import Clock
from secondconf.engine.verdict import Verdict
from secondconf.pytest_plugin.fixtures import StudentScenario
from secondconf.settings import HarnessSettings
from secondconf.target.a8 import A8Client
from secondconf.target.deployment import Target
from secondconf.target.identity import AccessToken

pytestmark = [pytest.mark.second_confirmation, pytest.mark.activation, pytest.mark.phase(5)]

RecordVerdict = Callable[[Verdict], Verdict]


@pytest.fixture(scope="module")
def activation_run(
    as_student: StudentScenario, target: Target, settings: HarnessSettings, clock: Clock
) -> ActivationRun:
    """The scenario, played once for this module's checks."""

    async def scenario(
        client: httpx.AsyncClient, a8: A8Client, token: AccessToken
    ) -> ActivationRun:
        return await run_activation(
            client, target.system_map, a8, token, clock, deadline_s=settings.telemetry_deadline_s
        )

    return as_student("activation scenario", scenario)


@pytest.mark.rules("ACT-01")
def test_act01_activation_fires_once(
    activation_run: ActivationRun, record_verdict: RecordVerdict
) -> None:
    record_verdict(judge_activation_once(activation_run))


@pytest.mark.rules("ACT-02")
def test_act02_credit_decrement_is_the_billed_amount(
    activation_run: ActivationRun, record_verdict: RecordVerdict
) -> None:
    record_verdict(judge_credit_decrement(activation_run))


@pytest.mark.rules("ACT-03")
def test_act03_pages_built_and_published_emit_their_events(
    activation_run: ActivationRun, record_verdict: RecordVerdict
) -> None:
    record_verdict(judge_pages(activation_run))


@pytest.mark.rules("ACT-04")
def test_act04_each_view_emits_cta_emitted(
    activation_run: ActivationRun, record_verdict: RecordVerdict
) -> None:
    record_verdict(judge_cta_emitted(activation_run))


@pytest.mark.rules("ACT-05")
def test_act05_impressions_sampled_at_ten_percent(
    activation_run: ActivationRun, record_verdict: RecordVerdict
) -> None:
    record_verdict(judge_impression_sampling(activation_run))


@pytest.mark.rules("ACT-06")
def test_act06_activation_tile_within_60_s(
    activation_run: ActivationRun, record_verdict: RecordVerdict
) -> None:
    record_verdict(judge_activation_tile(activation_run))
