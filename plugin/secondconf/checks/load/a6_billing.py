"""Phase 3 B2B load: the ``a6_register_billing`` profile (register, list, bill) on A6.

The seed's k6 script ``a6_register_billing.js``, as a locust profile
(``perf/locustfile_a6_register_billing.py``), run and judged by the baseline's runner
(:func:`.baseline.run_profile`: locust in its own process, :mod:`.locust`), endpoint by
endpoint: error rate < 1 % by the decision bounds and p95 ≤ 120 ms by order statistics
on locust's histogram. More than 60 users needs the ``load_over_60_vus`` approval,
refused before anything starts.

The profile acts as the synthetic provider ``test_provider_e2e_01`` with a bearer token
the harness fetched: locust reads it from ``provider_token`` in its working directory
(one of the runner's private files: written 0600, deleted after the run), since the
runner passes no secret in the environment.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Final, Unpack

from secondconf.checks.load.baseline import BaselineResult, LocustRunOptions, run_profile
from secondconf.contract.catalog import rule_by_id
from secondconf.core.secret import Secret
from secondconf.engine.verdict import Verdict
from secondconf.target.map import SystemMap

A6_BILLING_PROFILE: Final = Path("perf") / "locustfile_a6_register_billing.py"
PROFILE_NAME: Final = "a6_register_billing"
TOKEN_FILE: Final = "provider_token"  # the profile's TOKEN_FILE, in locust's working dir
PROVIDER_APP: Final = "A6"
ROUTES: Final = ("/v1/providers", "/v1/listings", "/v1/billing")
RULE: Final = rule_by_id("B2B-03")


def a6_billing_locustfile(project_root: Path) -> Path:
    """``<project root>/perf/locustfile_a6_register_billing.py``."""
    return project_root / A6_BILLING_PROFILE


def expected_endpoints(system_map: SystemMap) -> list[str]:
    """The endpoint names the profile uses (``"A6 <route>"``), when the map has A6."""
    return [f"{PROVIDER_APP} {route}" for route in ROUTES if PROVIDER_APP in system_map.apps]


def run_a6_billing(
    system_map_path: Path, provider_token: Secret, **options: Unpack[LocustRunOptions]
) -> BaselineResult:
    """Run the profile against the map's A6 and judge its three endpoints, by the
    baseline's runner (:func:`.baseline.run_profile`) with the token in its file.

    ``rate_per_user`` is iterations (three requests each) per second per user. Raises
    :class:`.baseline.LoadApprovalRequired` before anything starts for more than 60 users
    without ``hitl_approved``, and :class:`.locust.BaselineError` when locust cannot run.
    """
    return run_profile(
        system_map_path, expected_endpoints, private_files={TOKEN_FILE: provider_token}, **options
    )


def rule_verdicts(result: BaselineResult) -> list[Verdict]:
    """Each endpoint's two verdicts as B2B-03's (``measure``: the baseline check they are)."""
    return [
        replace(
            verdict,
            check=RULE.check,
            details={"rule": RULE.rule_id, "measure": verdict.check, **verdict.details},
        )
        for verdicts in result.verdicts.values()
        for verdict in verdicts
    ]
