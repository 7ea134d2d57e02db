"""One ecosystem shared by several processes (pytest-xdist workers), run by a supervisor.

``shared_ecosystem(lock_dir)``: the first process starts a detached supervisor
(``python -m reftarget --lease …``), every process holds a lease while it uses it
(``reftarget.launch.lease``), and the last one out stops it; a supervisor whose lease
holders have all died stops by itself. Control calls (``restart`` …) travel to the
supervisor over a Unix socket in the state directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from reftarget.launch.ecosystem import START_TIMEOUT_S, Ecosystem, EcosystemStartError
from reftarget.launch.lease import LEASE_LOCK, Lease, file_lock, is_alive, leave
from reftarget.launch.process import POLL_INTERVAL_S
from reftarget.launch.secrets import SECRETS_FILE, read_secrets_file
from reftarget.system_map import SYSTEM_MAP_FILE

CONTROL_SOCKET = "control.sock"
SUPERVISOR_FILE = "supervisor.json"


def shared_state_dir(lock_dir: Path) -> Path:
    """The shared ecosystem's state directory (system map, secrets.env, logs, control socket)."""
    return lock_dir / "state"


class RemoteEcosystem:
    """A handle on the shared ecosystem run by the supervisor (same control API)."""

    def __init__(self, state_dir: Path) -> None:
        self._state_dir = state_dir

    @property
    def state_dir(self) -> Path:
        return self._state_dir

    @property
    def system_map_path(self) -> Path:
        return self._state_dir / SYSTEM_MAP_FILE

    @property
    def secrets_env(self) -> dict[str, str]:
        return read_secrets_file(self._state_dir / SECRETS_FILE)

    def _call(self, command: dict[str, object]) -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(START_TIMEOUT_S)
            sock.connect(str(self._state_dir / CONTROL_SOCKET))
            sock.sendall(json.dumps(command).encode() + b"\n")
            reply = json.loads(sock.makefile("rb").readline())
        if not reply.get("ok"):
            raise RuntimeError(f"ecosystem control {command['op']} failed: {reply.get('error')}")

    def stop(self, app_id: str) -> None:
        self._call({"op": "stop", "app_id": app_id})

    def kill(self, app_id: str) -> None:
        self._call({"op": "kill", "app_id": app_id})

    def start(self, app_id: str) -> None:
        self._call({"op": "start", "app_id": app_id})

    def restart(self, app_id: str) -> None:
        self._call({"op": "restart", "app_id": app_id})

    def cold_start(self, app_id: str, warmup_s: float = 3.0) -> None:
        self._call({"op": "cold_start", "app_id": app_id, "warmup_s": warmup_s})


class _ControlHandler(socketserver.StreamRequestHandler):
    """One JSON command per connection, one JSON reply."""

    def handle(self) -> None:
        eco = getattr(self.server, "ecosystem")  # noqa: B009 - set by serve_control
        try:
            command = json.loads(self.rfile.readline())
            op, app_id = command["op"], str(command["app_id"])
            if op == "stop":
                eco.stop(app_id)
            elif op == "kill":
                eco.kill(app_id)
            elif op == "start":
                eco.start(app_id)
            elif op == "restart":
                eco.restart(app_id)
            elif op == "cold_start":
                eco.cold_start(app_id, float(command.get("warmup_s", 3.0)))
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception as exc:
            reply: dict[str, object] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        else:
            reply = {"ok": True}
        self.wfile.write(json.dumps(reply).encode() + b"\n")


def serve_control(eco: Ecosystem) -> socketserver.UnixStreamServer:
    """Serve control commands on ``<state>/control.sock`` (0600) from one background thread.

    One thread, not one per connection: commands are serialised, and the apps it restarts
    are children of a thread that lives as long as the supervisor.
    """
    path = eco.state_dir / CONTROL_SOCKET
    path.unlink(missing_ok=True)
    server = socketserver.UnixStreamServer(str(path), _ControlHandler)
    os.chmod(path, 0o600)
    server.ecosystem = eco  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, name="reftarget-control", daemon=True).start()
    return server


def _spawn_supervisor(lock_dir: Path, env: str) -> int:
    """Start ``python -m reftarget --lease`` detached (not our child: no zombie, no
    ResourceWarning when this process moves on) and return its pid."""
    state_dir = shared_state_dir(lock_dir)
    (state_dir / "logs").mkdir(parents=True, exist_ok=True)
    (state_dir / SUPERVISOR_FILE).unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "reftarget",
        "--state-dir",
        str(state_dir),
        "--env",
        env,
        "--lease",
        str(lock_dir),
        "--quiet",
    ]
    detach = '"$@" </dev/null >>"$LOG" 2>&1 & echo $!'
    shell = subprocess.run(
        ["/bin/sh", "-c", detach, "sh", *command],
        env={**os.environ, "LOG": str(state_dir / "logs" / "supervisor.log")},
        capture_output=True,
        text=True,
        check=True,
        start_new_session=True,
    )
    return int(shell.stdout.strip())


def _await_supervisor(pid: int, lock_dir: Path, timeout_s: float) -> None:
    state_dir = shared_state_dir(lock_dir)
    marker = state_dir / SUPERVISOR_FILE
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if marker.exists():
            return
        if not is_alive(pid):
            tail = (state_dir / "logs" / "supervisor.log").read_text(errors="replace")
            raise EcosystemStartError(
                "the shared ecosystem failed to start:\n" + "\n".join(tail.splitlines()[-40:])
            )
        time.sleep(POLL_INTERVAL_S)
    os.kill(pid, signal.SIGTERM)
    raise EcosystemStartError(f"the shared ecosystem was not ready within {timeout_s} s")


@contextlib.contextmanager
def shared_ecosystem(
    lock_dir: Path, *, env: str = "embedded", start_timeout_s: float = START_TIMEOUT_S
) -> Iterator[RemoteEcosystem]:
    """Use the ecosystem shared by every process that passes the same ``lock_dir``."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    me = os.getpid()
    with file_lock(lock_dir / LEASE_LOCK):
        lease = Lease.read(lock_dir)
        running = lease.supervisor_pid is not None and is_alive(lease.supervisor_pid)
        lease.holders = [*lease.live_holders(), me] if running else [me]
        lease.write(lock_dir)
        if not running:
            lease.supervisor_pid = _spawn_supervisor(lock_dir, env)
            lease.write(lock_dir)
            _await_supervisor(lease.supervisor_pid, lock_dir, start_timeout_s)
    try:
        yield RemoteEcosystem(shared_state_dir(lock_dir))
    finally:
        leave(lock_dir, me)


def mark_supervisor_ready(state_dir: Path) -> None:
    """Tell whoever spawned this supervisor that the ecosystem is up (``_await_supervisor``)."""
    (state_dir / SUPERVISOR_FILE).write_text(json.dumps({"pid": os.getpid()}))
