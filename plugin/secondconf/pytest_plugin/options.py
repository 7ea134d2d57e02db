"""The harness's options: each has an ini twin; CLI beats ini beats default.

Values are parsed and validated once, in ``pytest_configure``, into a frozen
:class:`~secondconf.settings.HarnessSettings`; a bad value is a ``pytest.UsageError``
that names the option and the valid values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from secondconf.contract.platform import TargetEnv
from secondconf.core.durations import parse_duration
from secondconf.engine.window import GatingMode
from secondconf.settings import DECISION_METHODS, PROFILES, HarnessSettings, WindowProfile


def _choice(valid: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in valid:
            raise ValueError(f"{text!r} is not valid; valid values: {', '.join(valid)}")
        return text

    return parse


def _open_unit_interval(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{text!r} must be a number strictly between 0 and 1")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError(f"{text!r} must be a positive number")
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
        "env", "Target environment: embedded, staging or prod_observe", _choice(tuple(TargetEnv))
    ),
    _Option("burn-in", "Burn-in before the stable window, e.g. 5s or 15m", parse_duration),
    _Option("stable-window", "Stable window length, e.g. 45s or 15m", parse_duration),
    _Option("confidence", "Confidence level of every bound (default 0.95)", _open_unit_interval),
    _Option(
        "decision-method",
        "wilson (two-sided Wilson upper limit, default) or exact (Clopper-Pearson)",
        _choice(DECISION_METHODS),
    ),
    _Option("gating-mode", "fixed (one look at the end) or sequential", _choice(tuple(GatingMode))),
    _Option(
        "probe-rate",
        "Probes per second to each app's /health and each /ready "
        "(default: the profile's, 8 embedded, 4 elsewhere)",
        _positive,
    ),
    _Option(
        "telemetry-deadline",
        "How long after a probe A8 must hold its event, e.g. 60s (default)",
        parse_duration,
    ),
    _Option("hitl-log", "HITL approvals log (JSON Lines, hash-chained)", Path),
    _Option("evidence-dir", "Folder for evidence files", Path),
    _Option("reports-dir", "Folder for report files", Path),
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


def resolve_settings(config: pytest.Config) -> HarnessSettings:
    """Read every option (CLI, then ini, then default) and validate it."""
    root = config.rootpath
    env = TargetEnv(_value(config, "env") or TargetEnv.EMBEDDED)
    system_map: Path | None = _value(config, "system-map")
    if env is not TargetEnv.EMBEDDED and system_map is None:
        raise pytest.UsageError(f"--env {env.value} needs --system-map naming that deployment")
    profile = PROFILES[env]
    probe_rate: float | None = _value(config, "probe-rate")
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

    def path(name: str, default: str) -> Path:
        # Like pytest: a CLI path is relative to where pytest was invoked, an ini path
        # (and a default) to the rootdir.
        value: Path | None = _value(config, name)
        if value is None:
            return root / default
        cli_given = config.getoption(f"secondconf_{name.replace('-', '_')}") is not None
        return (config.invocation_params.dir if cli_given else root) / value

    return HarnessSettings(
        system_map=path("system-map", "") if system_map is not None else None,
        env=env,
        profile=profile,
        confidence=_value(config, "confidence") or 0.95,
        method=_value(config, "decision-method") or "wilson",
        gating_mode=GatingMode(_value(config, "gating-mode") or GatingMode.FIXED),
        probe_rate=profile.probe_rate if probe_rate is None else probe_rate,
        telemetry_deadline_s=_value(config, "telemetry-deadline") or 60.0,
        hitl_log=path("hitl-log", "tests/perf/reports/hitl_approvals.log"),
        evidence_dir=path("evidence-dir", "tests/perf/evidence"),
        reports_dir=path("reports-dir", "tests/perf/reports"),
    )
