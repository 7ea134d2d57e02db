"""The target under test: a deployment named by a system map, or the embedded default.

With ``--system-map`` the map is validated and the target is asked once whether it is
there at all (on the controller, before anything runs); secrets come from the environment
variables the contract names. Without it, the embedded default (``reftarget``) is started
on first use and shared by every xdist worker of the session.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from secondconf.contract.platform import SECRET_ENV_VARS
from secondconf.core.secret import Secret
from secondconf.target.client import harness_sync_client
from secondconf.target.control import ADMIN_TOKEN_ENV, TargetControl, target_control
from secondconf.target.map import SystemMap, SystemMapError, load_system_map
from secondconf.target.processes import ProcessControl

EMBEDDED_LOCK_DIR = "secondconf-embedded-target"
REQUIRED_SECRETS = ("A8_TELEMETRY_KEY",)


class TargetError(Exception):
    """The target cannot be used: one line says why."""


@dataclass(frozen=True)
class Target:
    """What checks talk to. ``secrets`` are :class:`Secret` values (masked when printed),
    and kept out of the target's ``repr`` altogether."""

    system_map: SystemMap
    system_map_path: Path
    secrets: Mapping[str, Secret] = field(repr=False)
    processes: ProcessControl | None  # embedded only: the harness runs its processes
    description: str

    @property
    def fault_controls(self) -> TargetControl | None:
        """The target's fault, clock and key controls over HTTP, if it offers them (never
        in prod); use them through the ``fault_control`` fixture, which logs each change."""
        return target_control(self.system_map, self.secrets)

    def secret(self, name: str) -> Secret:
        try:
            return self.secrets[name]
        except KeyError:
            raise TargetError(f"environment variable {name} is not set") from None


def secrets_of(values: Mapping[str, str]) -> dict[str, Secret]:
    """Each set variable of ``values`` (name to value) as a :class:`Secret`."""
    return {name: Secret(name, value) for name, value in values.items() if value}


def load_named_target(path: Path, environ: Mapping[str, str] | None = None) -> SystemMap:
    """Validate the map and check that its target answers at all; raise TargetError."""
    environ = os.environ if environ is None else environ
    try:
        system_map = load_system_map(path, environ=environ)
    except SystemMapError as error:
        raise TargetError(str(error)) from None
    missing = [name for name in REQUIRED_SECRETS if not environ.get(name)]
    if missing:
        raise TargetError(f"environment variable(s) {', '.join(missing)} not set for {path}")
    _require_reachable(system_map)
    return system_map


def _require_reachable(system_map: SystemMap) -> None:
    """A target none of whose apps answers /health is a wrong map or a wrong network.

    One app down is not an error here: that app's checks fail with their reason.
    """
    failures: list[str] = []
    with harness_sync_client(system_map, timeout_s=5.0) as client:
        for app in system_map.apps.values():
            try:
                client.get(app.health_url)
                return
            except httpx.HTTPError as error:
                failures.append(f"{app.app_id} {app.health_url} ({type(error).__name__})")
    raise TargetError("target unreachable: no app answered /health: " + "; ".join(failures))


@contextlib.contextmanager
def open_target(system_map_path: Path | None, lock_dir: Path) -> Iterator[Target]:
    """The named deployment, or the embedded default shared through ``lock_dir``."""
    if system_map_path is not None:
        names = (*SECRET_ENV_VARS, ADMIN_TOKEN_ENV)
        yield Target(
            system_map=load_system_map(system_map_path),
            system_map_path=system_map_path,
            secrets=secrets_of({name: os.environ.get(name, "") for name in names}),
            processes=None,
            description=f"deployment named by {system_map_path}",
        )
        return
    # Imported here: only a run against the embedded default needs the reference target.
    from reftarget.launch.supervisor import shared_ecosystem

    with shared_ecosystem(lock_dir) as ecosystem:
        path = ecosystem.system_map_path
        yield Target(
            system_map=load_system_map(path, environ={}),
            system_map_path=path,
            secrets=secrets_of(ecosystem.secrets_env),
            processes=ecosystem,
            description="embedded default target (reference A1-A8 on 127.0.0.1)",
        )
