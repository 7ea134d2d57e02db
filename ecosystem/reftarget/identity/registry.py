"""Who may talk to A1: OAuth clients, login users and the synthetic identities.

The registry is plain data handed to ``IdentityProvider``; nothing is registered at run
time, so the set of clients and redirect URIs is fixed when A1 starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from reftarget.identity.passwords import hash_password

QA_CLIENT_ID = "qa-harness"
STUDENT_CLIENT_ID = "student-web"
PORTAL_CLIENT_ID = "provider-portal"  # A6's provider portal (a public client, like A5)

SYNTHETIC_IDENTITIES: dict[str, str] = {
    "test_student_e2e_01": "tenant_qa_b2c",
    "test_provider_e2e_01": "tenant_qa_b2b",
}

# Tenant of a client_credentials token issued without ``subject``: the client acts as
# itself (sub = client id) inside the B2C QA tenant, so apps that require ``tid`` accept it
# and anything it writes stays in a synthetic tenant.
CLIENT_TENANT = "tenant_qa_b2c"

AUTHORIZATION_CODE = "authorization_code"
CLIENT_CREDENTIALS = "client_credentials"


@dataclass(frozen=True)
class OidcClient:
    """A registered client. Confidential clients have a secret; public ones must use PKCE."""

    client_id: str
    secret: str | None
    redirect_uris: tuple[str, ...]
    grant_types: frozenset[str]
    confidential: bool

    def __post_init__(self) -> None:
        if self.confidential != (self.secret is not None):
            raise ValueError(f"{self.client_id}: a client has a secret iff it is confidential")
        if self.secret == "":
            raise ValueError(f"{self.client_id}: an empty secret would authenticate anyone")
        if CLIENT_CREDENTIALS in self.grant_types and not self.confidential:
            raise ValueError(f"{self.client_id}: client_credentials needs a confidential client")
        if AUTHORIZATION_CODE in self.grant_types and not self.redirect_uris:
            raise ValueError(f"{self.client_id}: authorization_code needs a redirect URI")
        for uri in self.redirect_uris:
            parts = urlsplit(uri)
            if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment:
                raise ValueError(
                    f"{self.client_id}: redirect URI {uri!r} must be absolute "
                    "http(s) without a fragment"
                )


@dataclass(frozen=True)
class User:
    """Someone who can log in on A1's form; ``password_hash`` comes from ``hash_password``."""

    username: str
    password_hash: str
    tenant: str


def default_clients(
    qa_secret: str,
    student_redirect_uris: Sequence[str],
    portal_redirect_uris: Sequence[str] = (),
) -> dict[str, OidcClient]:
    """The clients of the reference platform: the QA harness, the student web app and (with
    its redirect URIs) A6's provider portal."""
    clients = [
        OidcClient(QA_CLIENT_ID, qa_secret, (), frozenset({CLIENT_CREDENTIALS}), True),
        OidcClient(
            STUDENT_CLIENT_ID,
            None,
            tuple(student_redirect_uris),
            frozenset({AUTHORIZATION_CODE}),
            False,
        ),
    ]
    if portal_redirect_uris:
        portal = OidcClient(
            PORTAL_CLIENT_ID,
            None,
            tuple(portal_redirect_uris),
            frozenset({AUTHORIZATION_CODE}),
            False,
        )
        clients.append(portal)
    return {client.client_id: client for client in clients}


def synthetic_users(password: str) -> dict[str, User]:
    """Login accounts for the synthetic identities (so browser journeys can act as them)."""
    password_hash = hash_password(password)
    return {
        name: User(name, password_hash, tenant) for name, tenant in SYNTHETIC_IDENTITIES.items()
    }
