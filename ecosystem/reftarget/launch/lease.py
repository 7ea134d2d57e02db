"""Who uses a shared ecosystem: a lease file that lists the holders' pids.

Every process that uses the shared ecosystem holds a lease (its pid in ``lease.json``); the
file is read and written only under an exclusive ``flock`` on ``lease.lock``. A holder that
died without leaving is ignored (its pid is no longer alive), so a crashed xdist worker
never keeps the ecosystem running. The last holder to leave stops the supervisor.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from reftarget.launch.process import POLL_INTERVAL_S, STOP_TIMEOUT_S

LEASE_FILE = "lease.json"
LEASE_LOCK = "lease.lock"


def is_alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the block."""
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class Lease:
    """Who uses the shared ecosystem (``holders``) and who runs it (``supervisor_pid``)."""

    supervisor_pid: int | None = None
    holders: list[int] = field(default_factory=list)

    @classmethod
    def read(cls, lock_dir: Path) -> Lease:
        try:
            data = json.loads((lock_dir / LEASE_FILE).read_text())
        except (OSError, ValueError):
            return cls()
        return cls(data.get("supervisor_pid"), [int(p) for p in data.get("holders", [])])

    def write(self, lock_dir: Path) -> None:
        document = {"supervisor_pid": self.supervisor_pid, "holders": self.holders}
        (lock_dir / LEASE_FILE).write_text(json.dumps(document))

    def live_holders(self) -> list[int]:
        return [pid for pid in self.holders if is_alive(pid)]


def leave(lock_dir: Path, me: int) -> None:
    """Drop ``me`` from the lease; the last live holder stops the supervisor and waits for it."""
    with file_lock(lock_dir / LEASE_LOCK):
        lease = Lease.read(lock_dir)
        lease.holders = [pid for pid in lease.live_holders() if pid != me]
        lease.write(lock_dir)
        supervisor = lease.supervisor_pid
        if lease.holders or supervisor is None or not is_alive(supervisor):
            return
        os.kill(supervisor, signal.SIGTERM)
        deadline = time.monotonic() + 3 * STOP_TIMEOUT_S
        while is_alive(supervisor) and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL_S)
        lease.supervisor_pid = None
        lease.write(lock_dir)


def lease_has_holders(lock_dir: Path) -> bool:
    """Whether any process that took a lease is still alive (the supervisor's watchdog)."""
    with file_lock(lock_dir / LEASE_LOCK):
        return bool(Lease.read(lock_dir).live_holders())
