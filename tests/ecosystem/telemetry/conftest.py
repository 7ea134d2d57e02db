"""Fixtures for the telemetry tests: a trustme CA and A8 served for real over HTTPS."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme
from reftarget.clock import Clock, SystemClock
from reftarget.telemetry import TelemetryStore

from tests.ecosystem.telemetry.telemetry_testkit import A8Server, Tls


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    ca = trustme.CA()
    folder = tmp_path_factory.mktemp("tls")
    server_pem, ca_pem = folder / "server.pem", folder / "ca.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(server_pem))
    ca.cert_pem.write_to_path(str(ca_pem))
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return Tls(server_pem, ca_pem, client)


@pytest.fixture
def a8_factory(tls: Tls, tmp_path: Path) -> Iterator[Callable[..., A8Server]]:
    """Make A8 servers (started or not yet) that are stopped after the test."""
    servers: list[A8Server] = []

    def make(*, start: bool = True, clock: Clock | None = None) -> A8Server:
        store = TelemetryStore(tmp_path / f"a8-{len(servers)}.db", clock or SystemClock())
        server = A8Server(store, tls)
        servers.append(server)
        if start:
            server.start()
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def a8(a8_factory: Callable[..., A8Server]) -> A8Server:
    """A fresh A8 for one test."""
    server: A8Server = a8_factory()
    return server


@pytest.fixture(scope="module")
def shared_a8(tls: Tls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[A8Server]:
    """One A8 for a whole module (tests that only need distinct data, not a fresh store)."""
    server = A8Server(TelemetryStore(tmp_path_factory.mktemp("a8") / "a8.db", SystemClock()), tls)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def closed_url() -> str:
    """An https URL on a loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"https://127.0.0.1:{port}"
