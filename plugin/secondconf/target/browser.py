"""Chromium for the funnel journeys, through Playwright's async API (see docs/browser.md).

Which Chromium: ``$SECONDCONF_CHROMIUM`` if set (it must be an executable file), else a
``chromium`` or ``chromium-browser`` on ``PATH`` (Debian's package), both launched through
``executable_path``; else Playwright's own download (``playwright install chromium``), the
path for users elsewhere.

Trust: Chromium on Linux reads its roots from an NSS database, not from a PEM file, so the
map's ``ca_bundle`` cannot be handed to it. Instead the harness connects to every https
origin of the map (apps and pages) with Python's TLS, verifying each against the
``ca_bundle``, and passes the SHA-256 of each verified leaf certificate's public key to
Chromium (``--ignore-certificate-errors-spki-list``). Chromium then accepts exactly those
keys and still refuses any other bad certificate: a narrower trust than
``ignore_https_errors``, which would accept any certificate on any host. A map without a
``ca_bundle`` is served by publicly trusted certificates: nothing is added.

A journey gets a fresh context (no cookie or cache of another journey) whose every request
carries the journey's ``X-Trace-Id``, the synthetic tags and its ``X-Idempotency-Key``.

Secrets: a Playwright trace records every request and answer, so the sign-up form's
password and the session cookie would be in it; :func:`scrub_archive` replaces each such
value in the archive before it is kept, and a screenshot masks every password input.
Playwright is imported inside the functions: loading the plugin must not import it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import shutil
import socket
import ssl
import zipfile
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from secondconf.contract.platform import SYNTHETIC_HEADERS
from secondconf.core.files import write_atomic
from secondconf.target.map import SystemMap

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext

CHROMIUM_ENV: Final = "SECONDCONF_CHROMIUM"
SYSTEM_CHROMIUMS: Final = ("chromium", "chromium-browser")
# No sandbox: containers and CI runners often lack the user namespaces it needs; the
# browser only ever loads the target's own pages. The rest keep Chromium from calling home.
CHROMIUM_ARGS: Final = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
TLS_TIMEOUT_S: Final = 5.0
REDACTED: Final = b"[REDACTED]"


class BrowserError(Exception):
    """No usable browser, or a target origin the browser cannot be made to trust (one line)."""


def chromium_executable(
    environ: Mapping[str, str] | None = None, which: Callable[[str], str | None] = shutil.which
) -> Path | None:
    """The Chromium to launch, or ``None`` for Playwright's own download."""
    environ = os.environ if environ is None else environ
    chosen = environ.get(CHROMIUM_ENV)
    if chosen:
        path = Path(chosen)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise BrowserError(f"{CHROMIUM_ENV} does not name an executable file")
        return path
    for name in SYSTEM_CHROMIUMS:
        found = which(name)
        if found:
            return Path(found)
    return None


def https_origins(system_map: SystemMap) -> list[tuple[str, int]]:
    """Every https ``(host, port)`` of the map's apps and pages, once each."""
    urls = [entry.base_url for entry in system_map.apps.values()] + list(system_map.pages.values())
    origins: dict[tuple[str, int], None] = {}
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme == "https" and parts.hostname:
            origins[(parts.hostname, parts.port or 443)] = None
    return list(origins)


def spki_hash(der_certificate: bytes) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo)) of a DER certificate: the form Chromium's
    ``--ignore-certificate-errors-spki-list`` takes."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = x509.load_der_x509_certificate(der_certificate).public_key()
    spki = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")


def verified_spki_hashes(system_map: SystemMap) -> list[str]:
    """The public-key hashes of the map's https origins, each certificate first verified
    against the map's ``ca_bundle`` (hostname included); none without a ``ca_bundle``."""
    if system_map.ca_bundle is None:
        return []
    context = ssl.create_default_context(cafile=str(system_map.ca_bundle))
    hashes: dict[str, None] = {}
    for host, port in https_origins(system_map):
        try:
            with (
                socket.create_connection((host, port), timeout=TLS_TIMEOUT_S) as raw,
                context.wrap_socket(raw, server_hostname=host) as tls,
            ):
                der = tls.getpeercert(binary_form=True)
        except (OSError, ssl.SSLError) as error:
            raise BrowserError(
                f"{host}:{port}: no TLS connection verified by the map's ca_bundle "
                f"({type(error).__name__}); the browser would not trust it either"
            ) from None
        if der is None:
            raise BrowserError(f"{host}:{port}: sent no certificate")
        hashes[spki_hash(der)] = None
    return list(hashes)


def launch_args(system_map: SystemMap) -> list[str]:
    """Chromium's command line for journeys on this map."""
    args = list(CHROMIUM_ARGS)
    hashes = verified_spki_hashes(system_map)
    if hashes:
        args.append(f"--ignore-certificate-errors-spki-list={','.join(hashes)}")
    return args


@contextlib.asynccontextmanager
async def open_browser(
    system_map: SystemMap, environ: Mapping[str, str] | None = None
) -> AsyncIterator[Browser]:
    """A headless Chromium for journeys on ``system_map``; closed on exit."""
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright

    executable = chromium_executable(environ)
    args = launch_args(system_map)
    async with async_playwright() as playwright:
        try:
            browser = await playwright.chromium.launch(
                executable_path=None if executable is None else str(executable),
                headless=True,
                args=args,
            )
        except PlaywrightError as error:
            where = executable or "Playwright's own download"
            first = str(error).strip().splitlines()[0][:200] if str(error).strip() else "?"
            raise BrowserError(
                f"Chromium ({where}) did not start: {first}; see docs/browser.md"
            ) from None
        try:
            yield browser
        finally:
            await browser.close()


def journey_headers(trace_id: str, idempotency_key: str) -> dict[str, str]:
    """The headers on every request of one journey (contract §5, §10)."""
    return {"X-Trace-Id": trace_id, **SYNTHETIC_HEADERS, "X-Idempotency-Key": idempotency_key}


async def new_journey_context(
    browser: Browser, trace_id: str, idempotency_key: str, *, timeout_s: float
) -> BrowserContext:
    """A fresh context for one journey: its own cookies, its headers on every request."""
    context = await browser.new_context(
        extra_http_headers=journey_headers(trace_id, idempotency_key),
        ignore_https_errors=False,
    )
    context.set_default_timeout(timeout_s * 1000)
    context.set_default_navigation_timeout(timeout_s * 1000)
    return context


def scrub_archive(path: Path, secrets: Iterable[str]) -> int:
    """Replace every secret value in every member of the zip at ``path`` (a Playwright
    trace), raw and URL-encoded, and rewrite it atomically; returns the replacements made."""
    from urllib.parse import quote, quote_plus

    needles = {
        form.encode()
        for value in secrets
        if value
        for form in (value, quote(value, safe=""), quote_plus(value))
    }
    ordered = sorted(needles, key=len, reverse=True)
    count = 0
    members: list[tuple[zipfile.ZipInfo, bytes]] = []
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            data = archive.read(info)
            for needle in ordered:
                count += data.count(needle)
                data = data.replace(needle, REDACTED)
            members.append((info, data))
    scrubbed = path.with_name(path.name + ".scrubbed")
    with zipfile.ZipFile(scrubbed, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in members:
            archive.writestr(info, data)
    write_atomic(path, scrubbed.read_bytes())
    scrubbed.unlink()
    return count
