"""Phase 3 B2B load: the ``a6_register_billing`` profile (register, list, bill) on A6.

The seed's k6 script ``a6_register_billing.js``, as a locust profile
(``perf/locustfile_a6_register_billing.py``), run by the baseline's runner (locust in its
own process, :mod:`.locust`) and judged like the baseline, endpoint by endpoint: error
rate < 1 % by the decision bounds and p95 ≤ 120 ms by order statistics on locust's
histogram (:func:`.baseline.judge_endpoints`). More than 60 users needs the
``load_over_60_vus`` approval, refused before anything starts.

The profile acts as the synthetic provider ``test_provider_e2e_01`` with a bearer token
the harness fetched: locust reads it from ``provider_token`` in its working directory
(written 0600, deleted after the run), since the runner passes no secret in the
environment.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Final

from secondconf.checks.load.baseline import (
    BaselineResult,
    judge_endpoints,
    require_load_approval,
)
from secondconf.checks.load.locust import run_locust
from secondconf.contract.catalog import rule_by_id
from secondconf.core.clock import Clock, SystemClock
from secondconf.core.files import write_atomic
from secondconf.core.progress import ProgressThrottle
from secondconf.core.secret import Secret
from secondconf.engine.verdict import DecisionMethod, Verdict, Window
from secondconf.target.map import SystemMap, load_system_map

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


def _write_token(path: Path, token: Secret) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)  # write_atomic keeps an existing file's permission bits
    path.chmod(0o600)
    write_atomic(path, token.reveal())


def run_a6_billing(
    system_map_path: Path,
    provider_token: Secret,
    *,
    users: int,
    spawn_rate: float,
    duration_s: float,
    rate_per_user: float,
    locust_bin: Path,
    locustfile: Path,
    out_dir: Path,
    hitl_approved: bool = False,
    method: DecisionMethod = "wilson",
    confidence: float = 0.95,
    clock: Clock | None = None,
    workers: int = 0,
    progress: ProgressThrottle | None = None,
) -> BaselineResult:
    """Run the profile against the map's A6 and judge its three endpoints (on locust's
    master and ``workers`` workers when given, like phase 2).

    ``rate_per_user`` is iterations (three requests each) per second per user. Raises
    :class:`.baseline.LoadApprovalRequired` before anything starts for more than 60 users
    without ``hitl_approved``, and :class:`.locust.BaselineError` when locust cannot run.
    """
    require_load_approval(users, hitl_approved)
    system_map = load_system_map(system_map_path, environ={})
    token_path = out_dir / TOKEN_FILE
    _write_token(token_path, provider_token)
    try:
        endpoints, run = run_locust(
            locust_bin,
            locustfile,
            system_map_path,
            system_map.ca_bundle,
            users=users,
            spawn_rate=spawn_rate,
            duration_s=duration_s,
            rate_per_user=rate_per_user,
            out_dir=out_dir,
            clock=clock or SystemClock(),
            workers=workers,
            progress=progress,
        )
    finally:
        token_path.unlink(missing_ok=True)
    verdicts = judge_endpoints(
        endpoints,
        expected_endpoints(system_map),
        Window(start=run.start, end=run.end),
        method=method,
        confidence=confidence,
    )
    return BaselineResult(endpoints=endpoints, verdicts=verdicts, run=run)


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
