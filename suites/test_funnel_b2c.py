"""Phase 3: the B2C funnel A7 -> A1 -> A5 -> A3 -> A2 -> A8 in Chromium (contract §10, §11).

35 journeys (``test_student_e2e_10`` …) in parallel browser contexts, each with its own trace
id and the synthetic headers, measured once per session (``b2c_run``): B2C-01 journey
success >= 90 % by the lower two-sided Wilson 95 % limit (first attempts; a journey that
passes only on retry is flaky), B2C-02/03 each step's success and latency (the checkout
pages a human on failure: ``stripe_payment_failure``), B2C-04 A8's funnel-status tile within
60 s of each step, B2C-05 exclusions on revenue-lineage, B2C-06 each PaymentIntent
retrieved from Stripe, B2C-07 … B2C-11 one check per seed fix naming it, B2C-12 every
identity the run created deleted and proven gone. Against ``prod_observe`` only B2C-13 runs,
under a ``prod_write`` approval: one journey per named identity, no rate. A failing
journey's Playwright trace (secrets scrubbed) and screenshot are attached to Allure. The
logic is in :mod:`secondconf.checks.funnels`; docs/checks/funnel-b2c.md says what each
rule needs from the target.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from secondconf.checks.funnels.judge import judge_funnel, judge_named
from secondconf.checks.funnels.model import FunnelRun
from secondconf.engine.verdict import Verdict
from secondconf.target.deployment import Target

pytestmark = [pytest.mark.second_confirmation, pytest.mark.funnel_b2c, pytest.mark.phase(3)]

RecordVerdict = Callable[[Verdict], Verdict]
PLAYWRIGHT_TRACE_MIME = "application/vnd.allure.playwright-trace"  # Allure's trace viewer


def _attach_evidence(config: pytest.Config, run: FunnelRun) -> None:
    """Each failing journey's trace and screenshot as Allure attachments (with --alluredir)."""
    if not config.pluginmanager.has_plugin("allure_listener"):
        return
    import allure

    for journey in run.journeys:
        for name in journey.evidence:
            path = Path(name)
            if not path.is_file():
                continue
            label = f"journey {journey.index} attempt {journey.attempt} {path.name}"
            if path.suffix == ".png":
                allure.attach.file(str(path), label, allure.attachment_type.PNG)
            else:
                allure.attach.file(str(path), label, PLAYWRIGHT_TRACE_MIME, "zip")


@pytest.mark.rules(*(f"B2C-{n:02d}" for n in range(1, 13)))
def test_b2c_funnel(
    request: pytest.FixtureRequest,
    target: Target,
    b2c_run: FunnelRun,
    record_verdict: RecordVerdict,
) -> None:
    _attach_evidence(request.config, b2c_run)
    for verdict in judge_funnel(b2c_run, target.system_map.browser_login):
        record_verdict(verdict)


@pytest.mark.prod_safe
@pytest.mark.hitl(gate="prod_write")
@pytest.mark.rules("B2C-13")
def test_b2c_named_journeys(
    request: pytest.FixtureRequest, b2c_run: FunnelRun, record_verdict: RecordVerdict
) -> None:
    _attach_evidence(request.config, b2c_run)
    record_verdict(judge_named(b2c_run))
