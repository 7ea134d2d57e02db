"""Fixtures: one A1 served over HTTPS (trustme CA) for the whole session, fresh clients per test."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
import trustme
from reftarget.identity import (
    SYNTHETIC_IDENTITIES,
    IdentityProvider,
    KeyStore,
    User,
    default_clients,
    identity_routes,
)
from starlette.applications import Starlette

from tests.ecosystem.identity.a1_server import (
    A1,
    ADMIN_TOKEN,
    PASSWORD,
    QA_SECRET,
    REDIRECT_URI,
    SESSION_TTL_S,
    TOKEN_TTL_S,
    MovableClock,
    RequestCounter,
    cheap_hash,
    serve,
)


@pytest.fixture(scope="session")
def a1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[A1]:
    workdir = tmp_path_factory.mktemp("a1")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca_file, cert_file = workdir / "ca.pem", workdir / "server.pem"
    ca.cert_pem.write_to_path(ca_file)
    cert.private_key_and_cert_chain_pem.write_to_path(cert_file)

    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP;
    # without it every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    issuer = f"https://127.0.0.1:{sock.getsockname()[1]}"
    clock = MovableClock()
    provider = IdentityProvider(
        issuer,
        KeyStore(workdir / "a1.sqlite3"),
        default_clients(QA_SECRET, [REDIRECT_URI]),
        {
            name: User(name, cheap_hash(PASSWORD), tenant)
            for name, tenant in SYNTHETIC_IDENTITIES.items()
        },
        clock,
        session_ttl_s=SESSION_TTL_S,
        token_ttl_s=TOKEN_TTL_S,
    )
    app = RequestCounter(Starlette(routes=identity_routes(provider, ADMIN_TOKEN)), "/jwks.json")
    server, thread = serve(app, sock, cert_file)
    try:
        yield A1(issuer, provider, clock, str(ca_file), app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def clock(a1: A1) -> Iterator[MovableClock]:
    """The server's clock, put back to real time after the test."""
    yield a1.clock
    a1.clock.offset = 0.0


@pytest.fixture
def http(a1: A1) -> Iterator[httpx.Client]:
    with a1.client() as client:
        yield client


@pytest.fixture
def verifier_clock() -> MovableClock:
    """A relying app's own clock, independent of A1's."""
    return MovableClock()
