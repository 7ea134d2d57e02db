"""One child process of the ecosystem, and the loopback ports the children listen on.

Children run in their own session (Ctrl-C reaches the launcher, which orders shutdown) and
write stdout/stderr to their log file. A child started with ``pdeathsig`` gets SIGTERM from
the kernel when the thread that started it exits, so no child outlives its launcher.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

STOP_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.1
_PR_SET_PDEATHSIG = 1
_LISTEN_SPAN = 12_000  # how many ports below the ephemeral range the ecosystem draws from
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOCK_DIR = Path(tempfile.gettempdir()) / "reftarget-ports"


@dataclass
class PortReservation:
    """Loopback ports an ecosystem listens on, each held by a lock file until released.

    The lock (``flock`` on ``<tmp>/reftarget-ports/<port>.lock``) is what keeps a port this
    ecosystem's while one of its apps is stopped (a drill's restart, a fault test's restart
    with other switches): another launcher on the machine, finding the port free at that
    moment, skips it because its lock is held. The kernel drops the lock with the process.
    """

    ports: list[int]
    _locks: list[int] = field(default_factory=list, repr=False)

    def release(self) -> None:
        for descriptor in self._locks:
            os.close(descriptor)
        self._locks.clear()


def reserve_loopback_ports(count: int, ephemeral: range | None = None) -> PortReservation:
    """``count`` distinct ports, free on 127.0.0.1 now and reserved by no other launcher,
    chosen at random below the kernel's ephemeral range (``ephemeral``: read from /proc
    when not given).

    Why not ``bind(0)``: it hands out an ephemeral port, the kind the kernel also gives every
    outgoing connection, so between this check and the app's own bind (and whenever a
    drill restarts an app on its port) any client connection on the machine could take it:
    seen as an app's "address already in use" while two test workers ran ecosystems.
    """
    ephemeral = _ephemeral_range() if ephemeral is None else ephemeral
    below = range(max(1024, ephemeral.start - _LISTEN_SPAN), ephemeral.start)
    # No room below the range (it covers nearly every port): the range itself, still locked.
    candidates = below if len(below) >= _LISTEN_SPAN // 4 else ephemeral
    _LOCK_DIR.mkdir(mode=0o1777, exist_ok=True)
    reservation = PortReservation([])
    for port in random.SystemRandom().sample(candidates, k=min(len(candidates), 50 * count)):
        descriptor = _lock_port(port)
        if descriptor is None:
            continue
        if not _bindable(port):
            os.close(descriptor)
            continue
        reservation.ports.append(port)
        reservation._locks.append(descriptor)
        if len(reservation.ports) == count:
            return reservation
    reservation.release()
    raise OSError(f"no {count} free, unreserved loopback ports found")


def _lock_port(port: int) -> int | None:
    descriptor = os.open(_LOCK_DIR / f"{port}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(descriptor)
        return None
    return descriptor


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ephemeral_range() -> range:
    try:
        low, high = (int(part) for part in _EPHEMERAL_RANGE.read_text().split())
    except (OSError, ValueError):
        return range(32768, 61000)  # Linux's default
    return range(low, high + 1)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class ManagedProcess:
    """One child process with its log file."""

    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, env: Mapping[str, str], *, pdeathsig: bool = False) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the launcher, which orders shutdown
                preexec_fn=_die_with_parent if pdeathsig else None,
            )

    @property
    def pid(self) -> int | None:
        return None if self.popen is None else self.popen.pid

    def exit_code(self) -> int | None:
        """``None`` while running (or never started)."""
        return None if self.popen is None else self.popen.poll()

    def is_running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def terminate(self) -> None:
        if self.is_running() and self.popen is not None:
            self.popen.send_signal(signal.SIGTERM)

    def wait_or_kill(self, timeout_s: float) -> None:
        if self.popen is None:
            return
        try:
            self.popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        self.terminate()
        self.wait_or_kill(timeout_s)

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"
