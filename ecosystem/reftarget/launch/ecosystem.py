"""The embedded ecosystem: the Stripe-compatible server and apps A1–A8 in one process tree.

``with Ecosystem() as eco:`` starts every process on free 127.0.0.1 ports over HTTPS,
waits until each ``/ready`` answers 200, writes ``system_map.json`` into the state
directory and, on exit, stops everything (SIGTERM, then SIGKILL after a timeout).

Why it is built this way:

* Secrets are generated per ecosystem and reach the children only through their
  environment (``reftarget.launch.secrets``). Children's stdout/stderr go to
  ``logs/<name>.log``; nothing logs env or tokens.
* The apps keep their state in SQLite under the state directory, so ``restart`` keeps it.
* Ports are fixed for the ecosystem's lifetime (``topology.json``), so a restarted app
  comes back where the system map says it is.
* No orphans: ``close`` runs on exceptions and at interpreter exit; each app also exits by
  itself when its parent dies (``--exit-with-parent``), and the Stripe server gets
  ``PR_SET_PDEATHSIG`` (so create the ``Ecosystem`` on a thread that outlives it).
* Shutdown order: A1–A7 first (they flush their last telemetry to A8), then A8, then Stripe.

To share one ecosystem between processes, see ``reftarget.launch.supervisor``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Protocol

import httpx

from reftarget.core.faults import COLD_START_KEEPS
from reftarget.core.settings import (
    APP_IDS,
    COLD_START_ENV_VAR,
    DISABLED_RULES_ENV_VAR,
    SECRET_ENV_VARS,
    Topology,
)
from reftarget.core.tls import client_ssl_context, ensure_tls
from reftarget.launch.process import (
    POLL_INTERVAL_S,
    STOP_TIMEOUT_S,
    ManagedProcess,
    PortReservation,
    reserve_loopback_ports,
)
from reftarget.launch.secrets import SECRETS_FILE, generate_secrets, write_secrets_file
from reftarget.payments.readiness import wait_ready as wait_stripe_ready
from reftarget.system_map import SYSTEM_MAP_FILE, build_system_map, write_system_map

STRIPE = "stripe"
START_TIMEOUT_S = 60.0
SHUTDOWN_GROUPS: tuple[tuple[str, ...], ...] = (
    ("A1", "A2", "A3", "A4", "A5", "A6", "A7"),
    ("A8",),
    (STRIPE,),
)


class EcosystemStartError(RuntimeError):
    """A process did not come up; the message names it and quotes its log tail."""


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
        self._ports: PortReservation | None = None
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
            self._ports = reserve_loopback_ports(1 + len(APP_IDS))
            stripe_port, *app_ports = self._ports.ports
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
        env.pop(DISABLED_RULES_ENV_VAR, None)
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
        """Restart one app as after a cold start: it serves ``/health`` at once and runs a
        warm-up of ``warmup_s`` seconds: with its warmers before ``/ready`` answers 200 (other
        requests wait for it); with the ``warmers`` switch off (kept over the cold start,
        ``COLD_START_KEEPS``) ``/ready`` is 200 at once and the first request runs it."""
        self._check_app(app_id)
        with self._lock:
            kept = self._rules_kept_over_cold_start(app_id)
            self.stop(app_id)
            extra = {COLD_START_ENV_VAR: str(warmup_s)}
            if kept:
                extra[DISABLED_RULES_ENV_VAR] = ",".join(kept)
            self._spawn(app_id, extra)
            self._wait_for([app_id], "/health")

    def _rules_kept_over_cold_start(self, app_id: str) -> list[str]:
        """The app's switched-off rules that a cold start keeps (none if it cannot say)."""
        try:
            with self._http() as http:
                answer = http.get(
                    f"{self.topology.base_urls[app_id]}/_admin/faults",
                    headers={"Authorization": f"Bearer {self._secrets['REFTARGET_ADMIN_TOKEN']}"},
                )
                rules = answer.json()["disabled_rules"] if answer.status_code == 200 else []
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return []
        return [rule for rule in rules if rule in COLD_START_KEEPS]

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
            if self._ports is not None:
                self._ports.release()
            atexit.unregister(self.close)
            if self._owns_state_dir:
                shutil.rmtree(self._state_dir, ignore_errors=True)
