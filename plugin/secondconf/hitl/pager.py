"""Posting an escalation to an incident webhook in the PagerDuty Events API v2 shape.

``POST <webhook>`` with ``{"routing_key", "event_action": "trigger", "dedup_key",
"payload": {"summary", "source", "severity", "custom_details"}}``
(https://developer.pagerduty.com/docs/events-api-v2/trigger-events/). The webhook URL may
hold a credential (a query token, a Slack-style path) and the routing key is one, so both
travel as :class:`~secondconf.core.secret.Secret`: no message here names either value,
and an HTTP error is reported by its type and status only (httpx would print the URL).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from secondconf.core.secret import Secret
from secondconf.hitl.escalations import Page

WEBHOOK_OPTION: Final = "--escalation-webhook"
ROUTING_KEY_ENV: Final = "SECONDCONF_ESCALATION_ROUTING_KEY"
SUMMARY_MAX: Final = 1024  # PagerDuty truncates a longer summary
SEVERITY: Final[Mapping[str, str]] = {
    "stripe_payment_failure": "critical",
    "oidc_regression": "critical",
    "a3_run_stalled": "error",
    "schema_mismatch": "warning",
}


@dataclass(frozen=True)
class Pager:
    """Where pages go: the webhook and the routing key, both secrets."""

    webhook: Secret
    routing_key: Secret
    source: str
    timeout_s: float = 10.0

    def event(self, page: Page, run_id: str) -> dict[str, Any]:
        """The Events API v2 trigger for ``page``."""
        return {
            "routing_key": self.routing_key.reveal(),
            "event_action": "trigger",
            "dedup_key": page.dedup_key,
            "payload": {
                "summary": f"[{page.escalation}] {page.detail}"[:SUMMARY_MAX],
                "source": self.source,
                "severity": SEVERITY.get(page.escalation, "error"),
                "custom_details": {**page.to_dict(), "run_id": run_id},
            },
        }

    def post(self, pages: Sequence[Page], run_id: str) -> list[str]:
        """Post every page; one line per page that was not accepted (empty: all were)."""
        import httpx

        problems: list[str] = []
        # trust_env=False: a proxy from the environment must not see the webhook's secret.
        with httpx.Client(timeout=self.timeout_s, trust_env=False) as client:
            for page in pages:
                try:
                    answer = client.post(self.webhook.reveal(), json=self.event(page, run_id))
                except httpx.HTTPError as error:
                    problems.append(f"{page.escalation}: not posted ({type(error).__name__})")
                    continue
                if answer.status_code // 100 != 2:
                    problems.append(f"{page.escalation}: webhook answered {answer.status_code}")
        return problems
