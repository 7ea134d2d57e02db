"""What an app process knows at start: its id, the topology, and the secrets.

The launcher writes the non-secret topology (ports, URLs, TLS file paths, the Stripe
server's address) to ``<state>/topology.json`` before it starts anything; secrets reach the
processes only through their environment, under the fixed names below, and are never
written to the topology, the system map or a log.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from reftarget.core.tls import TlsFiles

APP_IDS: tuple[str, ...] = ("A1", "A2", "A3", "A4", "A5", "A6", "A7", "A8")

SECRET_ENV_VARS: tuple[str, ...] = (
    "STRIPE_PUBLISHABLE_KEY",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "OIDC_CLIENT_SECRET",
    "A8_TELEMETRY_KEY",
    "REFTARGET_ADMIN_TOKEN",
)
COLD_START_ENV_VAR = "REFTARGET_COLD_START_S"
DISABLED_RULES_ENV_VAR = "REFTARGET_DISABLED_RULES"  # comma-separated; a cold start's kept rules
TOPOLOGY_FILE = "topology.json"


def package_version() -> str:
    """The distribution's version, reported by ``/health`` and in the system map."""
    try:
        return metadata.version("secondconf")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True)
class Topology:
    """Where everything listens (non-secret; shared by the launcher and every app)."""

    env: str
    base_urls: Mapping[str, str]
    ports: Mapping[str, int]
    stripe_api_base: str
    tls: TlsFiles

    def to_json(self) -> dict[str, object]:
        return {
            "env": self.env,
            "apps": {
                app_id: {"port": self.ports[app_id], "base_url": self.base_urls[app_id]}
                for app_id in APP_IDS
            },
            "stripe_api_base": self.stripe_api_base,
            "tls": {
                "ca_pem": str(self.tls.ca_pem),
                "cert_pem": str(self.tls.cert_pem),
                "key_pem": str(self.tls.key_pem),
            },
        }

    @classmethod
    def from_json(cls, document: Mapping[str, object]) -> Topology:
        apps = document["apps"]
        tls = document["tls"]
        if not isinstance(apps, dict) or not isinstance(tls, dict):
            raise ValueError("topology.json: apps and tls must be objects")
        return cls(
            env=str(document["env"]),
            base_urls={app_id: str(apps[app_id]["base_url"]) for app_id in APP_IDS},
            ports={app_id: int(apps[app_id]["port"]) for app_id in APP_IDS},
            stripe_api_base=str(document["stripe_api_base"]),
            tls=TlsFiles(Path(tls["ca_pem"]), Path(tls["cert_pem"]), Path(tls["key_pem"])),
        )

    def write(self, state_dir: Path) -> Path:
        path = state_dir / TOPOLOGY_FILE
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return path

    @classmethod
    def read(cls, state_dir: Path) -> Topology:
        return cls.from_json(json.loads((state_dir / TOPOLOGY_FILE).read_text()))


@dataclass(frozen=True)
class Secrets:
    """The secret values, read from the environment (``repr`` hides them)."""

    values: Mapping[str, str]

    def __repr__(self) -> str:
        return f"Secrets({sorted(self.values)})"

    def __getitem__(self, name: str) -> str:
        return self.values[name]

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Secrets:
        source = os.environ if environ is None else environ
        missing = [name for name in SECRET_ENV_VARS if not source.get(name)]
        if missing:
            raise RuntimeError(f"missing secret environment variable(s): {', '.join(missing)}")
        return cls({name: source[name] for name in SECRET_ENV_VARS})


@dataclass(frozen=True)
class AppSettings:
    """Everything one app process is configured with."""

    app_id: str
    state_dir: Path
    topology: Topology
    secrets: Secrets
    cold_start_s: float = 0.0
    disabled_rules: frozenset[str] = frozenset()  # off from the start (Faults validates them)

    @property
    def base_url(self) -> str:
        return self.topology.base_urls[self.app_id]

    @classmethod
    def load(cls, app_id: str, state_dir: Path) -> AppSettings:
        if app_id not in APP_IDS:
            raise ValueError(f"unknown app id {app_id!r}; expected one of {list(APP_IDS)}")
        return cls(
            app_id=app_id,
            state_dir=state_dir,
            topology=Topology.read(state_dir),
            secrets=Secrets.from_environ(),
            cold_start_s=float(os.environ.get(COLD_START_ENV_VAR, "0") or 0),
            disabled_rules=frozenset(
                rule for rule in os.environ.get(DISABLED_RULES_ENV_VAR, "").split(",") if rule
            ),
        )
