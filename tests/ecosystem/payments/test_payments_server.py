"""The stripe_server process: loopback only, its own state, ready when it says so."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from reftarget.payments import wait_ready

if TYPE_CHECKING:
    from conftest import MakeClient, StartServer, StripeServer

SHARED_PICKLE = Path("/tmp/localstripe.pickle")
LISTEN = "0A"  # TCP state code in /proc/net/tcp*


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of sockets listening on ``port``, read from /proc (no ss, no psutil)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        with open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                address, port_hex = fields[1].split(":")
                if int(port_hex, 16) != port or fields[3] != LISTEN:
                    continue
                if len(address) == 8:  # IPv4, little-endian hex
                    found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1]))
                else:
                    found.add("ipv6:" + address)
    return found


def _non_loopback_ipv4() -> str | None:
    """This host's outbound IPv4 address, if it has one (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.254.254.254", 9))  # any routable address; only picks the source
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_listens_on_127_0_0_1_only(stripe_server: StripeServer) -> None:
    assert _listening_addresses(stripe_server.port) == {"127.0.0.1"}


def test_refuses_connections_on_a_non_loopback_address(stripe_server: StripeServer) -> None:
    address = _non_loopback_ipv4()
    if address is None:
        pytest.skip("this host has no non-loopback IPv4 address")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((address, stripe_server.port), timeout=2).close()


def test_price_api_requires_a_secret_key(stripe_server: StripeServer) -> None:
    answer = httpx.get(f"{stripe_server.api_base}/v1/prices", trust_env=False)
    assert answer.status_code == 401
    assert answer.json()["error"]["type"] == "invalid_request_error"


def test_never_writes_the_shared_tmp_pickle(
    stripe_server: StripeServer, client_for: MakeClient, unique: str
) -> None:
    before = SHARED_PICKLE.stat().st_mtime_ns if SHARED_PICKLE.exists() else None
    client_for(stripe_server.api_base).v1.customers.create(params={"email": f"{unique}@qa.test"})
    after = SHARED_PICKLE.stat().st_mtime_ns if SHARED_PICKLE.exists() else None
    assert after == before


def test_each_process_starts_with_empty_state(
    stripe_server: StripeServer,
    start_stripe_server: StartServer,
    client_for: MakeClient,
    unique: str,
) -> None:
    client_for(stripe_server.api_base).v1.prices.create(
        params={"currency": "usd", "unit_amount": 50, "product_data": {"name": unique}}
    )
    other = start_stripe_server()
    assert client_for(other.api_base).v1.prices.list().data == []


def test_wait_ready_times_out_when_nothing_listens(free_port: int) -> None:
    with pytest.raises(TimeoutError, match="not ready"):
        wait_ready(f"http://127.0.0.1:{free_port}", timeout_s=0.3)


def test_unreadable_ca_bundle_stops_startup(tmp_path: Path, free_port: int) -> None:
    missing = tmp_path / "missing-ca.pem"
    finished = subprocess.run(
        [
            *(sys.executable, "-m", "reftarget.payments.stripe_server"),
            *("--port", str(free_port), "--ca-bundle", str(missing)),
        ],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert finished.returncode != 0
    assert b"not a readable PEM CA bundle" in finished.stderr
