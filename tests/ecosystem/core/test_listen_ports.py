"""The ecosystem's listening ports come from below the kernel's ephemeral range.

A port an outgoing connection can be given (the ephemeral range) may be taken between the
check and the app's bind; these tests pin where the ports come from and that a port in use
is never handed out.
"""

from __future__ import annotations

import socket

import pytest
from reftarget.launch import process
from reftarget.launch.process import free_loopback_ports

EPHEMERAL = range(32768, 61000)


def test_ports_are_distinct_free_and_below_the_ephemeral_range() -> None:
    ports = free_loopback_ports(9, EPHEMERAL)
    assert len(set(ports)) == 9
    assert all(EPHEMERAL.start - 12_000 <= port < EPHEMERAL.start for port in ports)
    for port in ports:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))  # free: raises if it were not


def test_a_port_in_use_is_never_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    # A 40-port band below the ephemeral range, every port of it held but the last.
    monkeypatch.setattr(process, "_LISTEN_SPAN", 40)
    band = range(24_000, 24_040)
    held: list[socket.socket] = []
    try:
        for port in band[:-1]:
            sock = socket.socket()
            sock.bind(("127.0.0.1", port))
            held.append(sock)
        assert free_loopback_ports(1, range(band.stop, 61000)) == [band[-1]]
    finally:
        for sock in held:
            sock.close()


def test_without_room_below_the_range_the_kernel_chooses() -> None:
    ports = free_loopback_ports(3, range(1024, 65536))
    assert len(set(ports)) == 3
