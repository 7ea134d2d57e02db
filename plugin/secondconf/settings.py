"""The harness's settings, resolved once per session (see ``pytest_plugin.options``).

:class:`HarnessSettings` is plain data: report writers and checks read it without
importing pytest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from secondconf.contract.platform import TargetEnv
from secondconf.engine.verdict import DecisionMethod
from secondconf.engine.window import GatingMode


@dataclass(frozen=True)
class WindowProfile:
    """Burn-in and stable-window lengths, stated in every report."""

    name: str
    burn_in_s: float
    window_s: float
    probe_rate: float  # probes/s to each app's /health and to its /ready


# Total probes per second (every app's /health and /ready together) the liveness prober
# holds on one core over HTTPS with keep-alive, its send lag p99 within 5 ms: measured by
# perf/bench_prober.py (docs/perf.md). A --probe-rate asking more is refused at start.
PROBER_CAPACITY_PER_S = 1000.0

# The seed asks for 15 minutes of each against real deployments, at a gentle 4 probes/s.
# The embedded default is short but still reaches the n a PASS needs: 8 probes/s to each
# of two routes for 25 s is n = 400 per app, against the 381 of a PASS at 0 errors. That
# profile was chosen by perf/bench_liveness_profile.py (docs/perf.md has its figures).
PROFILES: dict[TargetEnv, WindowProfile] = {
    TargetEnv.EMBEDDED: WindowProfile(
        "embedded-short", burn_in_s=3.0, window_s=25.0, probe_rate=8.0
    ),
    TargetEnv.STAGING: WindowProfile("seed-15m", burn_in_s=900.0, window_s=900.0, probe_rate=4.0),
    TargetEnv.PROD_OBSERVE: WindowProfile(
        "seed-15m", burn_in_s=900.0, window_s=900.0, probe_rate=4.0
    ),
}

DECISION_METHODS: tuple[DecisionMethod, ...] = ("wilson", "exact")


@dataclass(frozen=True)
class HarnessSettings:
    system_map: Path | None
    env: TargetEnv
    profile: WindowProfile
    confidence: float
    method: DecisionMethod
    gating_mode: GatingMode
    probe_rate: float
    telemetry_deadline_s: float
    hitl_log: Path
    evidence_dir: Path
    reports_dir: Path
    # pytest's rootdir: where the project's own files are found (perf/ profiles,
    # .venv-locust), wherever the plugin itself is installed
    project_root: Path
    # The longest HITL approval the gate counts (--hitl-max-approval); the default is
    # secondconf.hitl.log.DEFAULT_MAX_APPROVAL (this layer may not import it).
    hitl_max_approval_s: float = 7 * 86400.0
    # Locust workers for the load phases (--load-workers): 0 runs locust alone, N runs its
    # master with N workers on this machine (more on other machines: README).
    load_workers: int = 0
    # A real-time autonomy soak of this many seconds (--autonomy-soak), or none.
    autonomy_soak_s: float | None = None

    def describe(self) -> str:
        target = str(self.system_map) if self.system_map else "embedded default"
        return (
            f"secondconf: target={target} env={self.env.value} "
            f"profile={self.profile.name} (burn-in {self.profile.burn_in_s:g}s, "
            f"window {self.profile.window_s:g}s) method={self.method} "
            f"confidence={self.confidence:g} mode={self.gating_mode.value} "
            f"probe-rate={self.probe_rate:g}/s hitl-log={self.hitl_log}"
        )
