"""The ecosystem's listening ports: below the kernel's ephemeral range, and reserved.

A port an outgoing connection can be given (the ephemeral range) may be taken between the
check and the app's bind; a port of a stopped app may be taken by another launcher unless
it is reserved. These tests pin where the ports come from, that a port in use or reserved
is never handed out, and that a released reservation frees its ports.
"""

from __future__ import annotations

import socket

import pytest
from reftarget.launch import process
from reftarget.launch.process import reserve_loopback_ports

EPHEMERAL = range(32768, 61000)


def test_ports_are_distinct_free_and_below_the_ephemeral_range() -> None:
    reservation = reserve_loopback_ports(9, EPHEMERAL)
    try:
        assert len(set(reservation.ports)) == 9
        assert all(EPHEMERAL.start - 12_000 <= p < EPHEMERAL.start for p in reservation.ports)
        for port in reservation.ports:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", port))  # free: raises if it were not
    finally:
        reservation.release()


def test_a_port_in_use_or_reserved_is_never_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    # A 40-port band below the ephemeral range: 20 ports bound, 19 reserved by another
    # launcher, one free.
    monkeypatch.setattr(process, "_LISTEN_SPAN", 40)
    band = range(24_000, 24_040)
    held: list[socket.socket] = []
    try:
        for port in band[:20]:
            sock = socket.socket()
            sock.bind(("127.0.0.1", port))
            held.append(sock)
        other = process.PortReservation([])
        for port in band[20:-1]:
            descriptor = process._lock_port(port)
            assert descriptor is not None
            other._locks.append(descriptor)
        mine = reserve_loopback_ports(1, range(band.stop, 61000))
        assert mine.ports == [band[-1]]
        mine.release()
        other.release()
        again = reserve_loopback_ports(20, range(band.stop, 61000))  # the released ones
        assert sorted(again.ports) == list(band[20:])
        again.release()
    finally:
        for sock in held:
            sock.close()
