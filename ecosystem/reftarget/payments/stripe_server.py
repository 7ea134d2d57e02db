"""The embedded target's Stripe: localstripe 1.15.10 plus two small shims, on loopback only.

Run it as its own process::

    python -m reftarget.payments.stripe_server --port 8420 [--ca-bundle ca.pem]

Choices, and why (docs/stripe-compat.md says the same at more length):

- **Loopback only.** localstripe's own ``start()`` binds ``::`` (every interface); this entry
  point binds ``127.0.0.1`` and nothing else. The host is not configurable on purpose.
- **State in memory, per process.** localstripe pickles its whole store to the fixed path
  ``/tmp/localstripe.pickle`` on every write (slower with every object, and shared by every
  instance on the machine) and reloads it at start. Both are switched off: each process starts
  empty and its state dies with it. ``DELETE /_config/data`` empties it while running.
- **Store indexed by type** (``store_index``): localstripe lists a type by scanning its whole
  store, a dozen times per charge, so each charge cost more than the last; the index makes
  a charge's cost independent of how many came before it.
- **Price API shim** (``price_api``): closes localstripe's missing ``/v1/prices`` and nothing
  else. localstripe ignores ``Idempotency-Key``, and so does the shim: what guarantees that a
  retried checkout charges once is A2's own idempotency layer (contract §4), not this fake.
  A2's Stripe code (``pricing``, ``charges``, ``webhooks.verify_event``) is the same against
  real Stripe, where the key it sends is honoured too.
- **allowed_payment_method_types** (``intent_compat``): the SDK's API version (2026-10-28.endive)
  no longer takes ``payment_method_types`` on a PaymentIntent and localstripe only takes that
  old name, so the server renames the new one for localstripe. A2 sends what real Stripe takes.
- **--ca-bundle**: localstripe delivers webhooks with a default ``aiohttp.ClientSession``,
  whose verified SSL context aiohttp builds once, when it is imported, from OpenSSL's default
  paths. So the bundle goes into ``SSL_CERT_FILE`` before aiohttp is first imported (the
  default CA directory stays trusted too); the server refuses to start if aiohttp was already
  loaded, rather than silently not trusting the target's CA.

``wait_ready`` is for whoever starts the process (the launcher, tests): it polls the shim's
``GET /v1/prices`` until it answers 200, so "ready" means localstripe and the shim both serve.
"""

from __future__ import annotations

import argparse
import logging
import os
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from reftarget.payments.readiness import wait_ready

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["LOOPBACK_HOST", "build_app", "main", "wait_ready"]

LOOPBACK_HOST = "127.0.0.1"


def build_app(ca_bundle: Path | None = None) -> web.Application:
    """localstripe's aiohttp app, memory-only, with the Price API and the intent rename mounted.

    Imports localstripe (which patches aiohttp): call it only in the server process.
    """
    if ca_bundle is not None:
        _trust_for_webhooks(ca_bundle)
    from localstripe import resources  # type: ignore[import-untyped]

    from reftarget.payments.store_index import index_store_by_type

    # No shared /tmp/localstripe.pickle: never load it, never write it.
    resources.Store.dump_to_disk = _no_persistence
    resources.Store.try_load_from_disk = _no_persistence
    index_store_by_type(resources)  # listing a type costs that type's size, not the store's
    from localstripe.server import app  # type: ignore[import-untyped]

    from reftarget.payments.intent_compat import add_intent_compat
    from reftarget.payments.price_api import add_price_routes

    add_price_routes(app)
    add_intent_compat(app)
    application: web.Application = app
    return application


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m reftarget.payments.stripe_server``."""
    parser = argparse.ArgumentParser(
        prog="python -m reftarget.payments.stripe_server",
        description="localstripe + Price API shim, bound to 127.0.0.1, state in memory only.",
    )
    parser.add_argument("--port", type=_port, required=True, help="TCP port on 127.0.0.1")
    parser.add_argument(
        "--ca-bundle",
        type=Path,
        default=None,
        help="PEM CA bundle to trust for HTTPS webhook deliveries",
    )
    args = parser.parse_args(argv)
    # localstripe reports webhook deliveries (and failures) on the "aiohttp.access" logger.
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    app = build_app(args.ca_bundle)
    from aiohttp import web

    web.run_app(app, host=LOOPBACK_HOST, port=args.port, shutdown_timeout=1.0)


def _trust_for_webhooks(ca_bundle: Path) -> None:
    path = ca_bundle.resolve()
    try:
        ssl.create_default_context(cafile=str(path))  # fails early on a missing or bad PEM
    except (OSError, ssl.SSLError) as error:
        raise SystemExit(
            f"--ca-bundle {ca_bundle}: not a readable PEM CA bundle ({error})"
        ) from error
    if "aiohttp" in sys.modules:
        raise RuntimeError(
            "aiohttp was imported before --ca-bundle was applied; its SSL context would not "
            "trust the bundle"
        )
    os.environ["SSL_CERT_FILE"] = str(path)


def _no_persistence(_store: object) -> None:
    return None


def _port(text: str) -> int:
    port = int(text)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be in 1..65535, got {port}")
    return port


if __name__ == "__main__":
    main()
