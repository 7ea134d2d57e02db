"""The journey browser: which Chromium, how the target's CA is trusted (and nothing else),
the journey headers on every request, and secrets scrubbed from a kept trace."""

from __future__ import annotations

import asyncio
import dataclasses
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from secondconf.target.browser import (
    CHROMIUM_ENV,
    BrowserError,
    chromium_executable,
    https_origins,
    new_journey_context,
    open_browser,
    scrub_archive,
    spki_hash,
    verified_spki_hashes,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from tests.loopback import ServedApp, serve
from tests.plugin.system_maps import system_map_at

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_the_named_chromium_comes_first(tmp_path: Path) -> None:
    binary = tmp_path / "chrome"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    found = chromium_executable({CHROMIUM_ENV: str(binary)}, which=lambda name: "/usr/bin/x")
    assert found == binary


def test_a_named_chromium_that_is_not_executable_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(BrowserError, match=f"^{CHROMIUM_ENV} does not name an executable file$"):
        chromium_executable({CHROMIUM_ENV: str(tmp_path / "absent")})


def test_then_a_chromium_on_path_then_playwrights_own() -> None:
    on_path = {"chromium-browser": "/opt/bin/chromium-browser"}
    assert chromium_executable({}, which=on_path.get) == Path("/opt/bin/chromium-browser")
    assert chromium_executable({}, which=lambda name: None) is None


def test_https_origins_are_the_apps_and_pages_once_each() -> None:
    system_map = dataclasses.replace(
        system_map_at({"A1": "https://id.test", "A2": "http://pay.test:8080"}),
        pages={"b2c.landing": "https://a7.test/p/x", "b2c.checkout": "https://id.test:443/c"},
    )
    origins = https_origins(system_map)
    assert ("id.test", 443) in origins
    assert ("a7.test", 443) in origins
    assert ("pay.test", 8080) not in origins
    assert len(origins) == len(set(origins))


async def _echo(request: Request) -> HTMLResponse:
    headers = {k: request.headers.get(k, "") for k in ("x-trace-id", "x-test-run", "x-source")}
    return HTMLResponse("".join(f"<p id='{k}'>{v}</p>" for k, v in headers.items()))


@pytest.fixture(scope="module")
def served() -> Iterator[ServedApp]:
    with serve(Starlette(routes=[Route("/", _echo)]), tls=trustme.CA()) as app:
        yield app


def test_only_certificates_the_ca_bundle_verifies_are_trusted(served: ServedApp) -> None:
    system_map = dataclasses.replace(system_map_at(served.url), ca_bundle=served.ca_file)
    hashes = verified_spki_hashes(system_map)
    assert len(hashes) == 1
    other_ca = trustme.CA()
    with other_ca.cert_pem.tempfile() as other:
        wrong = dataclasses.replace(system_map, ca_bundle=Path(other))
        with pytest.raises(BrowserError, match="no TLS connection verified by the map's ca_bundle"):
            verified_spki_hashes(wrong)
    leaf = other_ca.issue_cert("x.test").cert_chain_pems[0].bytes()
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    der = x509.load_pem_x509_certificate(leaf).public_bytes(Encoding.DER)
    assert spki_hash(der) not in hashes


def test_a_journey_context_sends_its_headers_and_trusts_the_map_ca(served: ServedApp) -> None:
    system_map = dataclasses.replace(system_map_at(served.url), ca_bundle=served.ca_file)
    untrusted = dataclasses.replace(system_map, ca_bundle=None)

    async def visit() -> tuple[list[str], str]:
        async with open_browser(system_map) as browser:
            context = await new_journey_context(browser, TRACE_ID, "key-1", timeout_s=10)
            page = await context.new_page()
            await page.goto(served.url + "/")
            seen = [await page.inner_text(f"#x-{n}") for n in ("trace-id", "test-run", "source")]
            await context.close()
        async with open_browser(untrusted) as browser:
            context = await new_journey_context(browser, TRACE_ID, "key-2", timeout_s=10)
            page = await context.new_page()
            try:
                await page.goto(served.url + "/")
                refused = ""
            except Exception as error:  # Playwright's Error: its message is what is checked
                refused = str(error)
            await context.close()
        return seen, refused

    seen, refused = asyncio.run(visit())
    assert seen == [TRACE_ID, "true", "qa"]
    assert "ERR_CERT_AUTHORITY_INVALID" in refused


def test_scrub_archive_removes_every_form_of_each_secret(tmp_path: Path) -> None:
    trace = tmp_path / "trace.zip"
    with zipfile.ZipFile(trace, "w") as archive:
        archive.writestr("trace.network", "password=p%40ss+w%2Frd&cookie=abc123secret")
        archive.writestr("resources/x", b"raw p@ss w/rd")
    assert scrub_archive(trace, ["p@ss w/rd", "abc123secret"]) == 3
    with zipfile.ZipFile(trace) as archive:
        contents = b"".join(archive.read(name) for name in archive.namelist())
    assert b"abc123secret" not in contents
    assert b"p@ss" not in contents
    assert b"p%40ss" not in contents
    assert contents.count(b"[REDACTED]") == 3
