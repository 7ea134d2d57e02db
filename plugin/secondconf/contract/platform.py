"""Platform constants of the contract, defined once: apps, roles, environments,
synthetic identities and the names of the secrets (never their values)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

APP_IDS: Final = ("A1", "A2", "A3", "A4", "A5", "A6", "A7", "A8")
APP_ROLES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "A1": "identity",
        "A2": "payments",
        "A3": "orchestration",
        "A4": "content",
        "A5": "student",
        "A6": "provider_portal",
        "A7": "growth",
        "A8": "command_center",
    }
)
PROVIDER_ROLE: Final = APP_ROLES["A6"]


class TargetEnv(StrEnum):
    """Where the target runs; decides what the harness may do to it (contract §5, §9)."""

    EMBEDDED = "embedded"
    STAGING = "staging"
    PROD_OBSERVE = "prod_observe"


ENVS: Final = tuple(env.value for env in TargetEnv)
PROD_OBSERVE: Final = TargetEnv.PROD_OBSERVE.value


class SyntheticIdentity(StrEnum):
    """The known synthetic identities of contract §5."""

    STUDENT = "test_student_e2e_01"  # B2C
    PROVIDER = "test_provider_e2e_01"  # B2B


SYNTHETIC_IDENTITIES: Final = frozenset(identity.value for identity in SyntheticIdentity)
SYNTHETIC_HEADERS: Final[Mapping[str, str]] = MappingProxyType(
    {"X-Test-Run": "true", "X-Source": "qa"}
)


def identity_for_role(role: str) -> SyntheticIdentity:
    """The synthetic identity that acts on an app of this role: providers on the portal."""
    return SyntheticIdentity.PROVIDER if role == PROVIDER_ROLE else SyntheticIdentity.STUDENT


SECRET_ENV_VARS: Final = (
    "STRIPE_PUBLISHABLE_KEY",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "OIDC_CLIENT_SECRET",
    "A8_TELEMETRY_KEY",
)
