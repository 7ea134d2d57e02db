"""Real servers on loopback for tests: an ASGI app under uvicorn in a background thread.

:func:`serve` is the usual way in: it serves an app on a free port of 127.0.0.1, over
HTTPS when given a ``trustme`` CA, and stops it on exit. :func:`loopback_socket` and
:func:`start` are its parts, for a caller that needs the URL before it can build the app
(A1 puts its issuer URL in every token) and then stops the server itself.
"""

from __future__ import annotations

import contextlib
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import trustme
import uvicorn
from starlette.types import ASGIApp

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ServedApp:
    """A running server: its base URL and, over HTTPS, the CA file that trusts it."""

    url: str
    tls_ca_file: Path | None = None

    @property
    def ca_file(self) -> Path:
        """The CA bundle (PEM) that verifies the server's certificate."""
        if self.tls_ca_file is None:
            raise ValueError(f"{self.url} is served over plain HTTP: there is no CA file")
        return self.tls_ca_file


def loopback_socket() -> socket.socket:
    """A TCP socket bound to a free port on 127.0.0.1.

    proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP;
    without it every response waits ~40 ms for a delayed ACK.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    return sock


def start(
    app: ASGIApp, sock: socket.socket, cert_file: Path | None = None
) -> tuple[uvicorn.Server, threading.Thread]:
    """Run ``app`` under uvicorn on ``sock`` in a daemon thread, over HTTPS if ``cert_file``
    (key and certificate chain, PEM) is given; return once it serves. Stop it with :func:`stop`.
    """
    config = uvicorn.Config(
        app,
        ssl_certfile=cert_file,
        ssl_keyfile=cert_file,
        http="h11",
        ws="none",
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the loopback server on {sock.getsockname()} did not start")
        time.sleep(0.01)
    return server, thread


def stop(server: uvicorn.Server, thread: threading.Thread) -> None:
    """Ask the server to exit and wait for its thread."""
    server.should_exit = True
    thread.join(timeout=STOP_TIMEOUT_S)


@contextlib.contextmanager
def serve(app: ASGIApp, *, tls: trustme.CA | None = None) -> Iterator[ServedApp]:
    """Serve ``app`` on a free port of 127.0.0.1 until the block ends.

    With ``tls``, over HTTPS with a certificate for 127.0.0.1 that ``tls`` issues; the
    CA's file (``ServedApp.ca_file``) lasts as long as the server.
    """
    with contextlib.ExitStack() as cleanup:
        ca_file: Path | None = None
        cert_file: Path | None = None
        if tls is not None:
            folder = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="loopback-")))
            ca_file, cert_file = folder / "ca.pem", folder / "server.pem"
            tls.cert_pem.write_to_path(str(ca_file))
            tls.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(cert_file))
        sock = cleanup.enter_context(loopback_socket())
        server, thread = start(app, sock, cert_file)
        cleanup.callback(stop, server, thread)
        scheme = "http" if tls is None else "https"
        yield ServedApp(f"{scheme}://127.0.0.1:{sock.getsockname()[1]}", ca_file)
