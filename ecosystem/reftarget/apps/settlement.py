"""What A2 and A6 put on ``revenue_settled``, and the two lineage faults that spoil it.

Both apps settle revenue the same way: the settlement carries the source event's
``finance_metrics`` (the same Stripe object, amount and currency), which is what A8's
revenue lineage and the harness's LIN-01 join on. The fault switches make a settlement
that does not join: ``lineage_stripe_object`` off drops the Stripe object id,
``lineage_amount`` off reports one cent more than was charged.
"""

from __future__ import annotations

from typing import Any

from reftarget.core.faults import Faults


def settlement_metrics(faults: Faults, source_metrics: dict[str, Any]) -> dict[str, Any]:
    """The ``finance_metrics`` of the ``revenue_settled`` that settles ``source_metrics``."""
    metrics = dict(source_metrics)
    if not faults.rule_enabled("lineage_stripe_object"):
        metrics["stripe_object_id"] = None
    if not faults.rule_enabled("lineage_amount") and isinstance(metrics.get("gross_cents"), int):
        metrics["gross_cents"] += 1
    return metrics


def stripe_metadata(trace_id: str, test_run: bool, source: str | None) -> dict[str, str]:
    """The lineage metadata every Stripe object of a settlement carries (contract §11):
    ``test_run`` ("true"/"false"), ``source`` ("" when the request named none) and
    ``trace_id``."""
    return {"test_run": str(test_run).lower(), "source": source or "", "trace_id": trace_id}
