"""The ecosystem's secret values: generated per ecosystem, handed over in ``secrets.env``.

Secrets reach the children only through their environment. ``secrets.env`` (mode 0600) in
the state directory holds the values for other processes of the same user (xdist workers,
a shell); it is the only file that does. Nothing here logs or prints a value.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from reftarget.core.settings import SECRET_ENV_VARS

SECRETS_FILE = "secrets.env"


def generate_secrets() -> dict[str, str]:
    """Fresh values for every secret name (Stripe-looking prefixes where Stripe checks them)."""
    return {
        "STRIPE_PUBLISHABLE_KEY": "pk_test_" + secrets.token_urlsafe(24),
        "STRIPE_SECRET_KEY": "sk_test_" + secrets.token_urlsafe(24),
        "STRIPE_WEBHOOK_SECRET": "whsec_" + secrets.token_urlsafe(24),
        "OIDC_CLIENT_SECRET": secrets.token_urlsafe(32),
        "A8_TELEMETRY_KEY": secrets.token_urlsafe(32),
        "REFTARGET_ADMIN_TOKEN": secrets.token_urlsafe(32),
    }


def write_secrets_file(path: Path, values: Mapping[str, str]) -> None:
    """``NAME=value`` lines, created 0600 (``set -a; . secrets.env`` exports them)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.writelines(f"{name}={values[name]}\n" for name in SECRET_ENV_VARS)


def read_secrets_file(path: Path) -> dict[str, str]:
    """The values written by ``write_secrets_file``."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition("=")
        if name in SECRET_ENV_VARS:
            values[name] = value
    return values
