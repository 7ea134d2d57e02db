"""The HITL log's keys are secrets like the target's: reading them registers them for
masking, the final scan searches the run's outputs for them, and a gate run that leaks
them shows no form of either key in the terminal, the JUnit XML or the Allure results."""

from __future__ import annotations

from pathlib import Path

import pytest
from secondconf.checks.safety.secrets_scan import secrets_for_run
from secondconf.core.redact import encodings, redact
from secondconf.hitl.keys import KEY_ENV, PREVIOUS_KEYS_ENV, LogKeys, key_secrets
from secondconf.settings import HarnessSettings

from tests.plugin.pytester_helpers import settings_under

# Characters that URL-encoding, JSON- and XML-escaping change, so each form differs.
KEY = 'hk/+"q" \\ & ü-' + "Hk7" * 8
OLD = "old-key-" + "Ok3" * 8
KEY_MASK = f"[REDACTED:{KEY_ENV}]"
OLD_MASK = f"[REDACTED:{PREVIOUS_KEYS_ENV}[1]]"

LEAKY_CHECK = """
import os
from pathlib import Path

import pytest


@pytest.mark.second_confirmation
@pytest.mark.app("A1")
def test_a_check_that_leaks_the_hitl_keys():
    key, old = os.environ["HITL_LOG_KEY"], os.environ["HITL_LOG_PREVIOUS_KEYS"]
    folder = Path("tests/perf/evidence/A1")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "debug.txt").write_text("key: " + key)
    print("stdout:", key, old)
    assert key == old, f"message: {key} {old}"
"""


def settings_for(tmp_path: Path, system_map: Path | None) -> HarnessSettings:
    return settings_under(
        tmp_path, system_map=system_map, hitl_log=tmp_path / "reports" / "hitl.log"
    )


def assert_no_form_of_a_key(text: str, where: str) -> None:
    for value in (KEY, OLD):
        # Whole, in any encoding; or cut the way pytest shortens a long repr (head...tail).
        pieces = [repr(value)[1:12], value[-12:]]
        for form in [*(n.decode("utf-8") for n in encodings(value)), *pieces]:
            assert form not in text, f"{where} holds a HITL log key ({form!r})"


def test_the_keys_are_named_one_by_one_and_unset_ones_left_out() -> None:
    environ = {KEY_ENV: KEY, PREVIOUS_KEYS_ENV: f"{OLD},,second-{OLD}", "HOME": "/root"}
    assert key_secrets(environ) == {
        KEY_ENV: KEY,
        f"{PREVIOUS_KEYS_ENV}[1]": OLD,
        f"{PREVIOUS_KEYS_ENV}[2]": f"second-{OLD}",
    }
    assert key_secrets({KEY_ENV: "", "HOME": "/root"}) == {}
    not_utf8 = "bytes-\udcff-" + "Nu5" * 8  # how os.environ holds a non-UTF-8 byte
    assert key_secrets({KEY_ENV: not_utf8}) == {}


def test_reading_the_keys_registers_them_for_masking() -> None:
    key, old = f"read-{KEY}", f"read-{OLD}"
    LogKeys.from_environ({KEY_ENV: key, PREVIOUS_KEYS_ENV: old})
    assert redact(f"a: {key} b: {old}") == f"a: {KEY_MASK} b: {OLD_MASK}"


def test_a_refused_key_is_masked_all_the_same() -> None:
    short = "short-key-9"  # under LogKeys' 16 bytes, over the masking's 8 characters
    with pytest.raises(ValueError, match="shorter than 16 bytes"):
        LogKeys.from_environ({KEY_ENV: short})
    assert redact(f"key {short}") == f"key {KEY_MASK}"


@pytest.mark.parametrize("deployment", [True, False], ids=["system-map", "embedded"])
def test_the_final_scan_searches_for_the_keys(tmp_path: Path, deployment: bool) -> None:
    """With a named deployment and with the embedded default (whose target's secrets come
    from its secrets.env): the keys come from the environment either way."""
    environ = {KEY_ENV: KEY, PREVIOUS_KEYS_ENV: OLD, "A8_TELEMETRY_KEY": "a8-" + "K" * 32}
    state = tmp_path / "state"
    state.mkdir()
    (state / "secrets.env").write_text("A8_TELEMETRY_KEY=from-the-file-" + "F" * 20 + "\n")
    settings = settings_for(tmp_path, tmp_path / "map.json" if deployment else None)
    run = secrets_for_run(settings, {"system_map": str(state / "system_map.json")}, environ)
    assert run.values[KEY_ENV] == KEY
    assert run.values[f"{PREVIOUS_KEYS_ENV}[1]"] == OLD
    assert run.values["A8_TELEMETRY_KEY"].startswith("a8-" if deployment else "from-the-file-")


@pytest.mark.parametrize("workers", [("-p", "no:xdist"), ("-n", "1")], ids=["no-xdist", "n1"])
def test_a_gate_run_shows_no_form_of_a_keyed_logs_keys(
    pytester: pytest.Pytester,
    reachable_map: str,
    monkeypatch: pytest.MonkeyPatch,
    workers: tuple[str, ...],
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv(PREVIOUS_KEYS_ENV, OLD)
    pytester.makepyfile(test_leaky=LEAKY_CHECK)
    result = pytester.runpytest_subprocess(
        f"--system-map={pytester.path / reachable_map}",
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
    assert_no_form_of_a_key(terminal, "the terminal")
    junit = (pytester.path / "junit.xml").read_text()
    assert_no_form_of_a_key(junit, "the JUnit XML")
    allure = {p.name: p.read_text() for p in (pytester.path / "allure-results").iterdir()}
    for name, text in allure.items():
        assert_no_form_of_a_key(text, f"Allure's {name}")
    # The leaks were there and were masked rather than lost...
    assert f"message: {KEY_MASK} {OLD_MASK}" in terminal
    assert f"stdout: {KEY_MASK} {OLD_MASK}" in terminal
    assert junit.count(KEY_MASK) >= 2
    assert any(f"message: {KEY_MASK}" in text for text in allure.values())
    # ...and the one the check wrote to the evidence was found by the final scan, by name.
    evidence = pytester.path / "tests/perf/evidence/A1/debug.txt"
    assert evidence.read_text() == f"key: {KEY}"
    result.stdout.fnmatch_lines(
        ["SECRET LEAK: * finding(s) in *", f"  {evidence}:1 (byte 5): {KEY_ENV} (raw)"]
    )
