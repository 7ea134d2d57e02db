"""What pytest prints and writes holds no secret value: a check that fails with a secret in
its assertion message, its locals (``--showlocals``), its captured stdout and its log
leaves no form of the value in the terminal, the JUnit XML or the Allure results, and the
final scan covers the JUnit file and the gate's own summary lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from secondconf.core.redact import encodings

# Characters that URL-encoding and JSON-escaping change, so each form differs from the raw.
SECRET = 'p@ss/w0rd+"q" \\ & ünï-' + "Zq9" * 8
MASK = "[REDACTED:OIDC_CLIENT_SECRET]"

LEAKY_CHECK = """
import base64
import json
import logging
import os
from urllib.parse import quote

import pytest


@pytest.mark.second_confirmation
@pytest.mark.app("A1")
def test_a_check_that_leaks_everywhere():
    client_secret = os.environ["OIDC_CLIENT_SECRET"]
    basic = base64.b64encode(("qa-harness:" + client_secret).encode()).decode()
    print("stdout:", client_secret, quote(client_secret, safe=""), json.dumps(client_secret))
    logging.getLogger("check").warning("log: %s %s", client_secret, client_secret.encode().hex())
    assert client_secret == "the expected value", f"message: {client_secret} Basic {basic}"
"""


def forms_of(value: str) -> list[str]:
    return [needle.decode("utf-8") for needle in encodings(value)]


def assert_no_form_of_the_secret(text: str, where: str) -> None:
    # Whole, in any encoding; or cut the way pytest shortens a long repr (head...tail).
    pieces = [repr(SECRET)[1:12], SECRET[-12:]]
    for form in [*forms_of(SECRET), *pieces]:
        assert form not in text, f"{where} holds the secret ({form!r})"


@pytest.mark.parametrize("workers", [("-p", "no:xdist"), ("-n", "1")], ids=["no-xdist", "n1"])
def test_terminal_junit_and_allure_hold_no_form_of_the_secret(
    pytester: pytest.Pytester,
    reachable_map: str,
    monkeypatch: pytest.MonkeyPatch,
    workers: tuple[str, ...],
) -> None:
    monkeypatch.setenv("OIDC_CLIENT_SECRET", SECRET)
    pytester.makepyfile(test_leaky=LEAKY_CHECK)
    result = pytester.runpytest_subprocess(
        f"--system-map={pytester.path / reachable_map}",
        "--showlocals",
        "--tb=long",
        "-rA",
        "--junitxml=junit.xml",
        "--alluredir=allure-results",
        "-p",
        "no:cacheprovider",
        *workers,
    )
    result.assert_outcomes(failed=1)
    terminal = result.stdout.str() + result.stderr.str()
    assert_no_form_of_the_secret(terminal, "the terminal")
    junit = (pytester.path / "junit.xml").read_text()
    assert_no_form_of_the_secret(junit, "the JUnit XML")
    allure = {p.name: p.read_text() for p in (pytester.path / "allure-results").iterdir()}
    for name, text in allure.items():
        assert_no_form_of_the_secret(text, f"Allure's {name}")
    # The leak was there, in each place, and was masked rather than lost.
    assert f"message: {MASK} Basic " in terminal  # the assertion message
    assert f"client_secret = '{MASK}'" in terminal  # --showlocals
    assert f'stdout: {MASK} {MASK} "{MASK}"' in terminal  # captured stdout, three forms
    assert f"log: {MASK} {MASK}" in terminal  # captured log, raw and hex
    assert junit.count(MASK) >= 5
    assert any(f"message: {MASK}" in text for text in allure.values())  # Allure's message
    assert any(f"stdout: {MASK}" in text for text in allure.values())  # and attachment
    result.stdout.fnmatch_lines(
        ["secret scan clean: the gate's terminal summary and * file(s), secrets searched: *"]
    )


def test_the_final_scan_reads_the_junit_file(
    pytester: pytest.Pytester, reachable_map: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A secret that reaches the JUnit file by a path redaction does not cover (a
    property recorded by the check) fails the run, naming the file."""
    monkeypatch.setenv("OIDC_CLIENT_SECRET", SECRET)
    pytester.makepyfile(
        """
        import os
        import pytest

        @pytest.mark.second_confirmation
        def test_records_a_property(record_property):
            record_property("client", os.environ["OIDC_CLIENT_SECRET"])
        """
    )
    result = pytester.runpytest_subprocess(
        f"--system-map={pytester.path / reachable_map}",
        "--junitxml=out/junit.xml",
        "-o",
        "junit_family=xunit1",  # the family that writes a test's properties
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
    )
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    junit = Path(pytester.path, "out", "junit.xml")
    result.stdout.fnmatch_lines(
        ["SECRET LEAK: * finding(s) in *", f"  {junit}:*: OIDC_CLIENT_SECRET (xml-escaped)"]
    )
    assert_no_form_of_the_secret(result.stdout.str() + result.stderr.str(), "the terminal")
