"""Which liveness profile the embedded default should use: probe rate × stable window, measured.

    .venv/bin/python perf/bench_liveness_profile.py [--profiles 4x55,6x35,8x25] [--burn-in 3]

For each profile (probes per second to each app's ``/health`` and ``/ready``, and the
stable window in seconds) one phase-1 measurement runs against a freshly started embedded
reference target, exactly as the gate runs it. Printed per profile: the smallest n over
the eight apps (a PASS at 0 errors needs n >= 381 with the two-sided Wilson 95 % bound),
how many apps PASS from both sources, and the phase's wall time. The embedded profile
(``secondconf.settings.PROFILES``) is the shortest profile whose every app passes with
n comfortably above 381; docs/perf.md records the figures this script printed.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from secondconf.checks.liveness.measure import LivenessPlan, LivenessResult, measure_liveness
from secondconf.core.clock import SystemClock
from secondconf.target.a8 import A8Client
from secondconf.target.client import harness_client
from secondconf.target.deployment import Target, open_target

PASS_MIN_N = 381  # engine.stats.min_samples for Wilson at 0 errors, 95 %


@dataclass(frozen=True)
class Profile:
    rate: float
    window_s: float

    @classmethod
    def parse(cls, text: str) -> Profile:
        rate, _, window = text.partition("x")
        return cls(float(rate), float(window))


@dataclass(frozen=True)
class Outcome:
    profile: Profile
    min_n: int
    apps_passed: int
    wall_s: float
    not_passed: tuple[str, ...]  # check/source: reason, for every verdict that did not PASS


def measure(target: Target, profile: Profile, burn_in_s: float) -> tuple[LivenessResult, float]:
    plan = LivenessPlan(
        burn_in_s=burn_in_s,
        window_s=profile.window_s,
        rate_per_target=profile.rate,
        telemetry_deadline_s=60.0,
    )

    async def run() -> LivenessResult:
        async with harness_client(target.system_map, env="embedded") as client:
            a8 = A8Client(client, target.system_map, target.secret("A8_TELEMETRY_KEY"))
            return await measure_liveness(client, target.system_map, a8, plan, SystemClock())

    started = time.perf_counter()
    result = asyncio.run(run())
    return result, time.perf_counter() - started


def summarise(profile: Profile, result: LivenessResult, wall_s: float) -> Outcome:
    probe_ns = [
        v.n
        for app in result.verdicts
        for v in result.for_app(app)
        if v.source == "probe" and v.check == "error_rate"
    ]
    passed = sum(all(v.passed for v in result.for_app(app)) for app in result.verdicts)
    reasons = sorted(
        {
            f"{v.check}/{v.source}: {v.reason}"
            for app in result.verdicts
            for v in result.for_app(app)
            if not v.passed
        }
    )
    return Outcome(profile, min(probe_ns, default=0), passed, wall_s, tuple(reasons))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", default="4x55,6x35,8x25")
    parser.add_argument("--burn-in", type=float, default=3.0)
    args = parser.parse_args()
    profiles = [Profile.parse(p) for p in args.profiles.split(",")]
    outcomes = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-liveness-") as state,
        open_target(None, Path(state)) as target,
    ):
        for profile in profiles:
            result, wall_s = measure(target, profile, args.burn_in)
            outcomes.append(summarise(profile, result, wall_s))
    print(f"burn-in {args.burn_in:g} s; a PASS at 0 errors needs n >= {PASS_MIN_N}")
    print(
        "| probes/s per route | window | min n per app | apps PASS | phase wall time | not PASS |"
    )
    print("|---|---|---|---|---|---|")
    for o in outcomes:
        print(
            f"| {o.profile.rate:g} | {o.profile.window_s:g} s | {o.min_n} | "
            f"{o.apps_passed}/8 | {o.wall_s:.1f} s | {'; '.join(o.not_passed) or '–'} |"
        )


if __name__ == "__main__":
    main()
