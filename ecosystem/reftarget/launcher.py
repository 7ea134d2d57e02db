"""Start and stop the embedded ecosystem: the Stripe-compatible server and apps A1–A8.

``with Ecosystem() as eco:`` starts every process on free 127.0.0.1 ports over HTTPS,
waits until each ``/ready`` answers 200, writes ``system_map.json`` into the state
directory and, on exit, stops everything (SIGTERM, then SIGKILL after a timeout).

Why it is built this way:

* Secrets are generated here (``secrets.token_urlsafe``) and reach the children only
  through their environment. ``secrets.env`` (mode 0600) in the state directory holds the
  values for other processes of the same user (xdist workers, a shell); it is the only file
  that does. Children's stdout/stderr go to ``logs/<name>.log``; nothing logs env or tokens.
* The apps keep their state in SQLite under the state directory, so ``restart`` keeps it.
* Ports are fixed for the ecosystem's lifetime (``topology.json``), so a restarted app
  comes back where the system map says it is.
* No orphans: ``close`` runs on exceptions and at interpreter exit; each app also exits by
  itself when its parent dies (``--exit-with-parent``), and the Stripe server gets
  ``PR_SET_PDEATHSIG`` (so create the ``Ecosystem`` on a thread that outlives it).
* Shutdown order: A1–A7 first (they flush their last telemetry to A8), then A8, then Stripe.

``shared_ecosystem(lock_dir)`` lets several processes (pytest-xdist workers) share one
ecosystem: the first starts a detached supervisor (``python -m reftarget --lease …``),
every process holds a lease while it uses it, and the last one out stops it; a
supervisor whose lease holders have all died stops by itself. Control calls
(``restart`` …) travel to the supervisor over a Unix socket in the state directory.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Protocol

import httpx

from reftarget.core.settings import APP_IDS, COLD_START_ENV_VAR, SECRET_ENV_VARS, Topology
from reftarget.core.tls import client_ssl_context, ensure_tls
from reftarget.payments.readiness import wait_ready as wait_stripe_ready
from reftarget.system_map import SYSTEM_MAP_FILE, build_system_map, write_system_map

STRIPE = "stripe"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.1
SECRETS_FILE = "secrets.env"
CONTROL_SOCKET = "control.sock"
SUPERVISOR_FILE = "supervisor.json"
LEASE_FILE = "lease.json"
LEASE_LOCK = "lease.lock"
SHUTDOWN_GROUPS: tuple[tuple[str, ...], ...] = (
    ("A1", "A2", "A3", "A4", "A5", "A6", "A7"),
    ("A8",),
    (STRIPE,),
)
_PR_SET_PDEATHSIG = 1


class EcosystemStartError(RuntimeError):
    """A process did not come up; the message names it and quotes its log tail."""


def generate_secrets() -> dict[str, str]:
    """Fresh values for every secret name (Stripe-looking prefixes where Stripe checks them)."""
    return {
        "STRIPE_PUBLISHABLE_KEY": "pk_test_" + secrets.token_urlsafe(24),
        "STRIPE_SECRET_KEY": "sk_test_" + secrets.token_urlsafe(24),
        "STRIPE_WEBHOOK_SECRET": "whsec_" + secrets.token_urlsafe(24),
        "OIDC_CLIENT_SECRET": secrets.token_urlsafe(32),
        "A8_TELEMETRY_KEY": secrets.token_urlsafe(32),
        "REFTARGET_ADMIN_TOKEN": secrets.token_urlsafe(32),
    }


def write_secrets_file(path: Path, values: Mapping[str, str]) -> None:
    """``NAME=value`` lines, created 0600 (``set -a; . secrets.env`` exports them)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.writelines(f"{name}={values[name]}\n" for name in SECRET_ENV_VARS)


def read_secrets_file(path: Path) -> dict[str, str]:
    """The values written by ``write_secrets_file``."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition("=")
        if name in SECRET_ENV_VARS:
            values[name] = value
    return values


def free_loopback_ports(count: int) -> list[int]:
    """``count`` distinct ports that were free on 127.0.0.1 a moment ago."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


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


class EcosystemControl(Protocol):
    """What a test or the harness can do with a running ecosystem, local or shared."""

    @property
    def state_dir(self) -> Path: ...

    @property
    def system_map_path(self) -> Path: ...

    @property
    def secrets_env(self) -> dict[str, str]: ...

    def stop(self, app_id: str) -> None: ...

    def kill(self, app_id: str) -> None: ...

    def start(self, app_id: str) -> None: ...

    def restart(self, app_id: str) -> None: ...

    def cold_start(self, app_id: str, warmup_s: float = ...) -> None: ...


class Ecosystem:
    """The embedded ecosystem as a context manager (see the module docstring)."""

    def __init__(
        self,
        state_dir: Path | None = None,
        env: str = "embedded",
        *,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        self._owns_state_dir = state_dir is None
        self._state_dir = (
            Path(tempfile.mkdtemp(prefix="reftarget-")) if state_dir is None else state_dir
        )
        self._env = env
        self._start_timeout_s = start_timeout_s
        self._secrets = generate_secrets()
        self._processes: dict[str, ManagedProcess] = {}
        self._topology: Topology | None = None
        self._lock = threading.RLock()
        self._closed = False

    # -- what the harness reads ---------------------------------------------------------

    @property
    def state_dir(self) -> Path:
        return self._state_dir

    @property
    def system_map_path(self) -> Path:
        return self._state_dir / SYSTEM_MAP_FILE

    @property
    def secrets_env(self) -> dict[str, str]:
        """The secret environment variables for the harness process (values: keep them there)."""
        return dict(self._secrets)

    @property
    def topology(self) -> Topology:
        if self._topology is None:
            raise RuntimeError("the ecosystem has not been started")
        return self._topology

    def base_url(self, app_id: str) -> str:
        return self.topology.base_urls[app_id]

    def process_ids(self) -> dict[str, int]:
        """The pid of every process started so far (``stripe`` and the app ids)."""
        return {name: p.pid for name, p in self._processes.items() if p.pid is not None}

    def log_path(self, name: str) -> Path:
        return self._state_dir / "logs" / f"{name}.log"

    # -- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> Ecosystem:
        self.start_all()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def start_all(self) -> None:
        """Start the Stripe server and every app, wait for all ``/ready``, write the map."""
        atexit.register(self.close)
        try:
            self._prepare_state_dir()
            stripe_port, *app_ports = free_loopback_ports(1 + len(APP_IDS))
            tls = ensure_tls(self._state_dir)
            self._topology = Topology(
                env=self._env,
                base_urls={
                    a: f"https://127.0.0.1:{p}" for a, p in zip(APP_IDS, app_ports, strict=True)
                },
                ports=dict(zip(APP_IDS, app_ports, strict=True)),
                stripe_api_base=f"http://127.0.0.1:{stripe_port}",
                tls=tls,
            )
            self._topology.write(self._state_dir)
            self._start_stripe(stripe_port)
            for app_id in APP_IDS:
                self._spawn(app_id)
            self._wait_stripe()
            self._wait_for(APP_IDS, "/ready")
            with self._http() as http:
                write_system_map(self._state_dir, build_system_map(self._topology, http))
        except BaseException:
            self.close()
            raise

    def _prepare_state_dir(self) -> None:
        self._state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self._state_dir, 0o700)
        self.system_map_path.unlink(missing_ok=True)
        write_secrets_file(self._state_dir / SECRETS_FILE, self._secrets)

    def _child_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV_VARS}
        env.pop(COLD_START_ENV_VAR, None)
        env.update(self._secrets)
        env.update(extra or {})
        return env

    def _start_stripe(self, port: int) -> None:
        process = ManagedProcess(
            STRIPE,
            [
                sys.executable,
                "-m",
                "reftarget.payments.stripe_server",
                "--port",
                str(port),
                "--ca-bundle",
                str(self.topology.tls.ca_pem),
            ],
            self.log_path(STRIPE),
        )
        process.start(self._child_env(), pdeathsig=True)
        self._processes[STRIPE] = process

    def _spawn(self, app_id: str, extra_env: Mapping[str, str] | None = None) -> None:
        argv = [
            sys.executable,
            "-m",
            "reftarget.apps.serve",
            app_id,
            "--state-dir",
            str(self._state_dir),
            "--exit-with-parent",
        ]
        process = ManagedProcess(app_id, argv, self.log_path(app_id))
        process.start(self._child_env(extra_env))
        self._processes[app_id] = process

    def _wait_stripe(self) -> None:
        try:
            wait_stripe_ready(self.topology.stripe_api_base, timeout_s=self._start_timeout_s)
        except TimeoutError as exc:
            raise EcosystemStartError(
                f"the Stripe server did not come up: {exc}\n"
                f"--- {self.log_path(STRIPE)} ---\n{self._processes[STRIPE].log_tail()}"
            ) from exc

    @contextlib.contextmanager
    def _http(self) -> Iterator[httpx.Client]:
        context = client_ssl_context(self.topology.tls.ca_pem)
        with httpx.Client(verify=context, trust_env=False, timeout=2.0) as http:
            yield http

    def _wait_for(self, app_ids: Sequence[str], path: str) -> None:
        """Poll ``path`` on each app until it answers 200; fail fast if a process exits."""
        pending = set(app_ids)
        last: dict[str, str] = dict.fromkeys(app_ids, "no answer yet")
        deadline = time.monotonic() + self._start_timeout_s
        with self._http() as http:
            while pending:
                for app_id in sorted(pending):
                    process = self._processes[app_id]
                    code = process.exit_code()
                    if code is not None:
                        raise EcosystemStartError(
                            f"{app_id} exited with code {code} before {path} answered 200\n"
                            f"--- {process.log_path} ---\n{process.log_tail()}"
                        )
                    try:
                        answer = http.get(self.base_url(app_id) + path, timeout=1.0)
                    except httpx.HTTPError as exc:
                        last[app_id] = f"{type(exc).__name__}"
                        continue
                    if answer.status_code == 200:
                        pending.discard(app_id)
                    else:
                        last[app_id] = f"HTTP {answer.status_code}: {answer.text[:300]}"
                if not pending:
                    return
                if time.monotonic() > deadline:
                    first = sorted(pending)[0]
                    raise EcosystemStartError(
                        f"{', '.join(sorted(pending))} not ready within {self._start_timeout_s} s; "
                        f"{first}: {last[first]}\n"
                        f"--- {self.log_path(first)} ---\n{self._processes[first].log_tail()}"
                    )
                time.sleep(POLL_INTERVAL_S)

    # -- control ------------------------------------------------------------------------

    def _check_app(self, app_id: str) -> None:
        if app_id not in APP_IDS:
            raise ValueError(f"unknown app {app_id!r}; expected one of {list(APP_IDS)}")

    def stop(self, app_id: str) -> None:
        """Stop one app (its port then refuses connections)."""
        self._check_app(app_id)
        with self._lock:
            process = self._processes.get(app_id)
            if process is not None:
                process.stop()

    def kill(self, app_id: str) -> None:
        """Crash one app (SIGKILL): requests in flight die mid-way, nothing is flushed."""
        self._check_app(app_id)
        with self._lock:
            process = self._processes.get(app_id)
            if process is not None and process.popen is not None and process.is_running():
                process.popen.kill()
                process.popen.wait()

    def start(self, app_id: str) -> None:
        """Start a stopped app and wait until it is ready."""
        self._check_app(app_id)
        with self._lock:
            if self._processes[app_id].is_running():
                return
            self._spawn(app_id)
            self._wait_for([app_id], "/ready")

    def restart(self, app_id: str) -> None:
        """Stop and start one app (its SQLite state survives)."""
        with self._lock:
            self.stop(app_id)
            self.start(app_id)

    def cold_start(self, app_id: str, warmup_s: float = 3.0) -> None:
        """Restart one app as after a cold start: it serves ``/health`` at once, but ``/ready``
        answers 503 and other requests wait for ``warmup_s`` seconds."""
        self._check_app(app_id)
        with self._lock:
            self.stop(app_id)
            self._spawn(app_id, {COLD_START_ENV_VAR: str(warmup_s)})
            self._wait_for([app_id], "/health")

    def close(self) -> None:
        """Stop everything (idempotent); remove the state directory if it was a temporary one."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for group in SHUTDOWN_GROUPS:
                members = [self._processes[n] for n in group if n in self._processes]
                for process in members:
                    process.terminate()
                for process in members:
                    process.wait_or_kill(STOP_TIMEOUT_S)
            atexit.unregister(self.close)
            if self._owns_state_dir:
                shutil.rmtree(self._state_dir, ignore_errors=True)


# -- sharing one ecosystem between processes ----------------------------------------------


def _is_alive(pid: int) -> bool:
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
def _file_lock(path: Path) -> Iterator[None]:
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
        return [pid for pid in self.holders if _is_alive(pid)]


def shared_state_dir(lock_dir: Path) -> Path:
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
        if not _is_alive(pid):
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
    with _file_lock(lock_dir / LEASE_LOCK):
        lease = Lease.read(lock_dir)
        running = lease.supervisor_pid is not None and _is_alive(lease.supervisor_pid)
        lease.holders = [*lease.live_holders(), me] if running else [me]
        lease.write(lock_dir)
        if not running:
            lease.supervisor_pid = _spawn_supervisor(lock_dir, env)
            lease.write(lock_dir)
            _await_supervisor(lease.supervisor_pid, lock_dir, start_timeout_s)
    try:
        yield RemoteEcosystem(shared_state_dir(lock_dir))
    finally:
        _leave(lock_dir, me)


def _leave(lock_dir: Path, me: int) -> None:
    with _file_lock(lock_dir / LEASE_LOCK):
        lease = Lease.read(lock_dir)
        lease.holders = [pid for pid in lease.live_holders() if pid != me]
        lease.write(lock_dir)
        supervisor = lease.supervisor_pid
        if lease.holders or supervisor is None or not _is_alive(supervisor):
            return
        os.kill(supervisor, signal.SIGTERM)
        deadline = time.monotonic() + 3 * STOP_TIMEOUT_S
        while _is_alive(supervisor) and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL_S)
        lease.supervisor_pid = None
        lease.write(lock_dir)


def lease_has_holders(lock_dir: Path) -> bool:
    """Whether any process that took a lease is still alive (the supervisor's watchdog)."""
    with _file_lock(lock_dir / LEASE_LOCK):
        return bool(Lease.read(lock_dir).live_holders())


def mark_supervisor_ready(state_dir: Path) -> None:
    (state_dir / SUPERVISOR_FILE).write_text(json.dumps({"pid": os.getpid()}))
