"""Fixtures: the embedded Stripe server as a real subprocess on loopback, and SDK clients for it.

localstripe is never imported here (it patches aiohttp and warns): the server runs as
``python -m reftarget.payments.stripe_server`` in its own process, logging to a file.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import stripe
import trustme
from reftarget.payments import wait_ready

API_KEY = "sk_test_reftarget_payments"


@dataclass(frozen=True)
class StripeServer:
    """One running ``stripe_server`` process."""

    api_base: str
    port: int
    pid: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, needle: str, timeout_s: float) -> str:
        """The first log line containing ``needle``; fails after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in self.log().splitlines():
                if needle in line:
                    return line
            time.sleep(0.05)
        pytest.fail(f"no log line with {needle!r} within {timeout_s} s:\n{self.log()[-3000:]}")


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


StartServer = Callable[..., StripeServer]


@pytest.fixture(scope="session")
def start_stripe_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartServer]:
    """Factory: start a server (optionally with ``--ca-bundle``), stopped at session end."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(*, ca_bundle: Path | None = None) -> StripeServer:
        port = free_loopback_port()
        log_path = tmp_path_factory.mktemp("stripe_server") / "server.log"
        command = [sys.executable, "-m", "reftarget.payments.stripe_server", "--port", str(port)]
        if ca_bundle is not None:
            command += ["--ca-bundle", str(ca_bundle)]
        with log_path.open("wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        processes.append(process)
        server = StripeServer(f"http://127.0.0.1:{port}", port, process.pid, log_path)
        try:
            wait_ready(server.api_base, timeout_s=15.0)
        except TimeoutError:
            pytest.fail(f"stripe_server did not start:\n{server.log()[-3000:]}")
        return server

    yield start
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="session")
def webhook_ca() -> trustme.CA:
    """The CA that signs the HTTPS webhook receiver's certificate (like the target's CA)."""
    return trustme.CA()


@pytest.fixture(scope="session")
def stripe_server(
    start_stripe_server: StartServer,
    webhook_ca: trustme.CA,
    tmp_path_factory: pytest.TempPathFactory,
) -> StripeServer:
    """The shared server, started with ``--ca-bundle`` so that HTTPS webhooks can be delivered."""
    ca_pem = tmp_path_factory.mktemp("ca") / "ca.pem"
    webhook_ca.cert_pem.write_to_path(str(ca_pem))
    return start_stripe_server(ca_bundle=ca_pem)


def make_client(api_base: str, http_client: stripe.HTTPClient | None = None) -> stripe.StripeClient:
    """The way A2 builds its client: explicit base address, no SDK retries."""
    return stripe.StripeClient(
        API_KEY, base_addresses={"api": api_base}, max_network_retries=0, http_client=http_client
    )


MakeClient = Callable[..., stripe.StripeClient]


@pytest.fixture
def client_for() -> MakeClient:
    """``client_for(api_base, http_client=None)``: an SDK client for any server."""
    return make_client


@pytest.fixture
def client(stripe_server: StripeServer) -> stripe.StripeClient:
    return make_client(stripe_server.api_base)


@pytest.fixture
def free_port() -> int:
    """A loopback port that nothing listened on a moment ago."""
    return free_loopback_port()


@pytest.fixture
def unique() -> str:
    """A fresh suffix, so tests sharing the server never see each other's lookup keys."""
    return uuid.uuid4().hex[:12]
