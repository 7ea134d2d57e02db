"""TLS for the reference target: a throwaway CA (trustme) and one loopback server cert.

The apps speak HTTPS like a real deployment would, so the harness exercises its CA-bundle
handling (``ca_bundle`` in the system map). The CA's private key is never written: once the
server certificate is issued nobody needs to sign anything else.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

SERVER_NAMES = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class TlsFiles:
    """Where the PEM files live: ``ca_pem`` for clients, the other two for servers."""

    ca_pem: Path
    cert_pem: Path
    key_pem: Path


def tls_files(state_dir: Path) -> TlsFiles:
    """The TLS file locations under a state directory (they may not exist yet)."""
    tls_dir = state_dir / "tls"
    return TlsFiles(tls_dir / "ca.pem", tls_dir / "server.pem", tls_dir / "server-key.pem")


def ensure_tls(state_dir: Path) -> TlsFiles:
    """Create the CA and server certificate once; later calls reuse them (restarts keep trust)."""
    files = tls_files(state_dir)
    if files.ca_pem.exists() and files.cert_pem.exists() and files.key_pem.exists():
        return files
    files.ca_pem.parent.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="reftarget embedded CA")
    server = ca.issue_cert(*SERVER_NAMES)
    ca.cert_pem.write_to_path(str(files.ca_pem))
    server.private_key_pem.write_to_path(str(files.key_pem))
    os.chmod(files.key_pem, 0o600)
    for position, blob in enumerate(server.cert_chain_pems):
        blob.write_to_path(str(files.cert_pem), append=position > 0)
    return files


def client_ssl_context(ca_pem: Path) -> ssl.SSLContext:
    """A verifying client context that trusts only the embedded CA."""
    return ssl.create_default_context(cafile=str(ca_pem))
