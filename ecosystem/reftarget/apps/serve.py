"""Run one reference app: ``python -m reftarget.apps.serve A3 --state-dir DIR``.

The composition root of an app process: settings (topology file + secret environment),
runtime, the app module's definition, the standard readiness checks, and uvicorn on
127.0.0.1 with the embedded CA's server certificate. Access logs are off: request lines
can carry identifiers, and the log files must never hold anything secret.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

import uvicorn
from starlette.applications import Starlette

from reftarget.core.app import AppDefinition, AppRuntime, create_app
from reftarget.core.runtime import build_authenticator, build_runtime, standard_ready_checks
from reftarget.core.settings import APP_IDS, AppSettings

GRACEFUL_SHUTDOWN_S = 2  # idle TLS keep-alive clients otherwise hold the shutdown
PARENT_CHECK_INTERVAL_S = 0.5

AppBuilder = Callable[[AppSettings, AppRuntime], AppDefinition]


def app_builder(app_id: str) -> AppBuilder:
    """The ``build`` function of ``reftarget.apps.<app_id>``."""
    module = importlib.import_module(f"reftarget.apps.{app_id.lower()}")
    return cast(AppBuilder, module.build)


def build_app(settings: AppSettings) -> Starlette:
    """The complete ASGI app of ``settings.app_id``."""
    runtime = build_runtime(settings)
    definition = app_builder(settings.app_id)(settings, runtime)
    over_jwks = definition.verifies_tokens and definition.authenticator is None
    checks = standard_ready_checks(settings, runtime, verifies_tokens=over_jwks) | dict(
        definition.ready_checks
    )
    authenticator = (
        build_authenticator(settings, runtime) if over_jwks else definition.authenticator
    )
    return create_app(runtime, definition, authenticator=authenticator, ready_checks=checks)


def exit_with_parent() -> None:
    """Shut down gracefully (SIGTERM to self) once the launcher that started us is gone."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_INTERVAL_S)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m reftarget.apps.serve")
    parser.add_argument("app_id", choices=APP_IDS)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--exit-with-parent", action="store_true")
    args = parser.parse_args(argv)
    if args.exit_with_parent:
        exit_with_parent()
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    settings = AppSettings.load(args.app_id, args.state_dir)
    topology = settings.topology
    config = uvicorn.Config(
        build_app(settings),
        host="127.0.0.1",
        port=topology.ports[args.app_id],
        ssl_certfile=str(topology.tls.cert_pem),
        ssl_keyfile=str(topology.tls.key_pem),
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        server_header=False,
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
