"""The harness's options: each has an ini twin; CLI beats ini beats default.

Values are parsed and validated once, in ``pytest_configure``, into a frozen
:class:`~secondconf.settings.HarnessSettings`; a bad value is a ``pytest.UsageError``
that names the option and the valid values.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest

from secondconf.contract.platform import APP_IDS, TargetEnv
from secondconf.core.durations import parse_duration
from secondconf.engine.window import GatingMode
from secondconf.hitl.log import DEFAULT_MAX_APPROVAL
from secondconf.settings import (
    DECISION_METHODS,
    PROBER_CAPACITY_PER_S,
    PROFILES,
    HarnessSettings,
    WindowProfile,
)


def _choice(valid: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in valid:
            raise ValueError(f"{text!r} is not valid; valid values: {', '.join(valid)}")
        return text

    return parse


def _number(text: str) -> float:
    """A finite number: ``nan`` and ``inf`` parse as floats but mean nothing here."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def _open_unit_interval(text: str) -> float:
    value = _number(text)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{text!r} must be a number strictly between 0 and 1")
    return value


PROBE_RATE_BOUNDS: Final = (0.1, PROBER_CAPACITY_PER_S / (2 * len(APP_IDS)))
"""Probes per second to one route: below, a window holds too few probes to judge; above,
the /health and /ready of A1-A8 together would ask the prober for more than its measured
capacity, so its own lag, not the target, would decide the verdicts."""

TELEMETRY_DEADLINE_MAX_S: Final = 3600.0
"""A8 holding a probe's event an hour late is already a failure worth reporting."""


def _probe_rate(text: str) -> float:
    value = _number(text)
    low, high = PROBE_RATE_BOUNDS
    if not low <= value <= high:
        raise ValueError(
            f"{text!r} must be from {low:g} to {high:g} probes per second (above, the "
            f"{2 * len(APP_IDS)} routes of A1-A8 would ask the prober for more than its "
            f"measured {PROBER_CAPACITY_PER_S:g} probes/s)"
        )
    return value


def _positive_duration(text: str) -> float:
    seconds = parse_duration(text)
    if seconds <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return seconds


def _telemetry_deadline(text: str) -> float:
    seconds = parse_duration(text)
    if not 0.0 < seconds <= TELEMETRY_DEADLINE_MAX_S:
        raise ValueError(f"{text!r} must be longer than zero and at most 1h")
    return seconds


MAX_LOAD_WORKERS: Final = 64


def _whole_number(text: str, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= high:
        raise ValueError(f"{text!r} must be from 0 to {high}")
    return value


@dataclass(frozen=True)
class _Option:
    name: str  # CLI flag without dashes; the ini twin is "secondconf_" + name with underscores
    help: str
    parse: Callable[[str], Any]

    @property
    def flag(self) -> str:
        return f"--{self.name}"

    @property
    def ini(self) -> str:
        return "secondconf_" + self.name.replace("-", "_")

    @property
    def dest(self) -> str:
        return "secondconf_" + self.name.replace("-", "_")


OPTIONS: tuple[_Option, ...] = (
    _Option(
        "system-map", "System map of the target (JSON); none starts the embedded default", Path
    ),
    _Option(
        "env",
        "Target environment: embedded, staging or prod_observe (with --system-map, the "
        "map's env decides; a different --env is an error)",
        _choice(tuple(TargetEnv)),
    ),
    _Option(
        "burn-in", "Burn-in before the stable window, e.g. 5s or 15m; 0 to 366d", parse_duration
    ),
    _Option(
        "stable-window",
        "Stable window length, e.g. 45s or 15m; above 0, at most 366d",
        parse_duration,
    ),
    _Option(
        "confidence",
        "Confidence level of every bound, strictly between 0 and 1 (default 0.95)",
        _open_unit_interval,
    ),
    _Option(
        "decision-method",
        "wilson (two-sided Wilson upper limit, default) or exact (Clopper-Pearson)",
        _choice(DECISION_METHODS),
    ),
    _Option("gating-mode", "fixed (one look at the end) or sequential", _choice(tuple(GatingMode))),
    _Option(
        "probe-rate",
        "Probes per second to each app's /health and each /ready, from 0.1 to 62.5 "
        "(the prober's capacity over 16 routes; default: the profile's, 8 embedded, 4 "
        "elsewhere)",
        _probe_rate,
    ),
    _Option(
        "telemetry-deadline",
        "How long after a probe A8 must hold its event, above 0 and at most 1h (default 60s)",
        _telemetry_deadline,
    ),
    _Option("hitl-log", "HITL approvals log (JSON Lines, hash-chained)", Path),
    _Option(
        "hitl-max-approval",
        "Longest HITL approval the gate counts, e.g. 12h; above 0, at most 366d (default 7d)",
        _positive_duration,
    ),
    _Option(
        "load-workers",
        f"Locust workers for the load phases, 0 to {MAX_LOAD_WORKERS} (default 0: locust "
        "alone; N: its master and N workers on this machine)",
        lambda text: _whole_number(text, MAX_LOAD_WORKERS),
    ),
    _Option("evidence-dir", "Folder for evidence files", Path),
    _Option("reports-dir", "Folder for report files", Path),
    _Option(
        "autonomy-soak",
        "Run the autonomy checks in real time for this long too, e.g. 200m (marker slow; "
        "default: clock control only)",
        _positive_duration,
    ),
)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("secondconf", "second-confirmation release gate")
    for option in OPTIONS:
        group.addoption(option.flag, dest=option.dest, default=None, help=option.help)
        parser.addini(option.ini, f"{option.help} (ini twin of {option.flag})", default=None)


def _raw(config: pytest.Config, option: _Option) -> tuple[str | None, str]:
    cli = config.getoption(option.dest)
    if cli is not None:
        return str(cli), option.flag
    ini = config.getini(option.ini)
    if ini:
        return str(ini), f"ini {option.ini}"
    return None, ""


def _value(config: pytest.Config, name: str) -> Any:
    option = next(o for o in OPTIONS if o.name == name)
    raw, origin = _raw(config, option)
    if raw is None:
        return None
    try:
        return option.parse(raw)
    except ValueError as error:
        raise pytest.UsageError(f"{origin}: {error}") from None


def _value_or(config: pytest.Config, name: str, default: Any) -> Any:
    """The option's value, or ``default`` when it is not set (never when it is falsy:
    ``or default`` would turn a given 0 into the default)."""
    value = _value(config, name)
    return default if value is None else value


def _env(config: pytest.Config, system_map: Path | None) -> TargetEnv:
    """The target's environment, which decides policy (prod_observe skips, load, fuzzing,
    the HITL approvals' env): a named system map's own ``env``, which ``--env`` may repeat
    but not contradict; without a map, ``--env`` (default embedded)."""
    given: str | None = _value(config, "env")
    if system_map is None:
        env = TargetEnv.EMBEDDED if given is None else TargetEnv(given)
        if env is not TargetEnv.EMBEDDED:
            raise pytest.UsageError(f"--env {env.value} needs --system-map naming that deployment")
        return env
    from secondconf.target.map import SystemMapError, load_system_map

    try:
        map_env = TargetEnv(load_system_map(system_map).env)
    except SystemMapError as error:
        raise pytest.UsageError(str(error)) from None
    if given is not None and given != map_env.value:
        _, origin = _raw(config, next(o for o in OPTIONS if o.name == "env"))
        raise pytest.UsageError(
            f"{origin} {given} disagrees with env {map_env.value} of the system map "
            f"{system_map}; the map decides: omit {origin} or name that environment's map"
        )
    return map_env


def resolve_settings(config: pytest.Config) -> HarnessSettings:
    """Read every option (CLI, then ini, then default) and validate it."""
    root = config.rootpath

    def path(name: str, default: str) -> Path:
        # Like pytest: a CLI path is relative to where pytest was invoked, an ini path
        # (and a default) to the rootdir.
        value: Path | None = _value(config, name)
        if value is None:
            return root / default
        cli_given = config.getoption(f"secondconf_{name.replace('-', '_')}") is not None
        return (config.invocation_params.dir if cli_given else root) / value

    system_map = path("system-map", "") if _value(config, "system-map") is not None else None
    env = _env(config, system_map)
    profile = PROFILES[env]
    burn_in = _value(config, "burn-in")
    window = _value(config, "stable-window")
    if burn_in is not None or window is not None:
        profile = WindowProfile(
            "custom",
            burn_in_s=profile.burn_in_s if burn_in is None else burn_in,
            window_s=profile.window_s if window is None else window,
            probe_rate=profile.probe_rate,
        )
    if profile.window_s <= 0:
        raise pytest.UsageError("--stable-window must be longer than zero")

    return HarnessSettings(
        system_map=system_map,
        env=env,
        profile=profile,
        confidence=_value_or(config, "confidence", 0.95),
        method=_value_or(config, "decision-method", "wilson"),
        gating_mode=GatingMode(_value_or(config, "gating-mode", GatingMode.FIXED)),
        probe_rate=_value_or(config, "probe-rate", profile.probe_rate),
        telemetry_deadline_s=_value_or(config, "telemetry-deadline", 60.0),
        hitl_log=path("hitl-log", "tests/perf/reports/hitl_approvals.log"),
        hitl_max_approval_s=_value_or(
            config, "hitl-max-approval", DEFAULT_MAX_APPROVAL.total_seconds()
        ),
        evidence_dir=path("evidence-dir", "tests/perf/evidence"),
        reports_dir=path("reports-dir", "tests/perf/reports"),
        project_root=root,
        load_workers=_value_or(config, "load-workers", 0),
        autonomy_soak_s=_value(config, "autonomy-soak"),
    )
