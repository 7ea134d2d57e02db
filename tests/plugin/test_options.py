"""Options: CLI beats ini beats default; a bad value is one clear usage error."""

from __future__ import annotations

import json

import pytest

from tests.plugin.conftest import BASE_INI
from tests.plugin.pytester_helpers import system_map_json

SHOW_SETTINGS = """
def test_show(pytestconfig):
    from secondconf.pytest_plugin.state import SETTINGS_KEY
    s = pytestconfig.stash[SETTINGS_KEY]
    print("SETTINGS", s.env.value, s.profile.name, s.profile.burn_in_s, s.profile.window_s,
          s.method, s.gating_mode.value, s.confidence, s.probe_rate)
"""


def run_show(pytester: pytest.Pytester, *args: str) -> str:
    pytester.makepyfile(SHOW_SETTINGS)
    result = pytester.runpytest("-s", "-p", "no:xdist", *args)
    result.assert_outcomes(passed=1)
    line = next(x[x.index("SETTINGS") :] for x in result.outlines if "SETTINGS" in x)
    return line


def test_defaults_are_the_embedded_short_profile(pytester: pytest.Pytester) -> None:
    assert run_show(pytester) == "SETTINGS embedded embedded-short 3.0 55.0 wilson fixed 0.95 4.0"


def test_ini_sets_a_value(pytester: pytest.Pytester) -> None:
    pytester.makeini(BASE_INI + "secondconf_decision_method = exact\nsecondconf_burn_in = 2m\n")
    assert run_show(pytester).split()[3:6] == ["120.0", "55.0", "exact"]


def test_cli_beats_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini(BASE_INI + "secondconf_decision_method = exact\n")
    line = run_show(pytester, "--decision-method", "wilson", "--gating-mode", "sequential")
    assert line.split()[5:7] == ["wilson", "sequential"]


def test_staging_uses_the_fifteen_minute_profile(
    pytester: pytest.Pytester, reachable_map: str
) -> None:
    line = run_show(pytester, "--env", "staging", "--system-map", reachable_map)
    assert line.split()[1:5] == ["staging", "seed-15m", "900.0", "900.0"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--env", "prod"),
            "*--env: 'prod' is not valid; valid values: embedded, staging, prod_observe*",
        ),
        (("--decision-method", "bayes"), "*valid values: wilson, exact*"),
        (("--gating-mode", "peek"), "*valid values: fixed, sequential*"),
        (("--confidence", "95"), "*--confidence: '95' must be a number strictly between 0 and 1*"),
        (("--burn-in", "soon"), "*--burn-in: 'soon' is not a duration*"),
        (("--probe-rate", "-3"), "*--probe-rate: '-3' must be a positive number*"),
        (("--env", "staging"), "*--env staging needs --system-map*"),
    ],
)
def test_bad_option_is_one_usage_error_line(
    pytester: pytest.Pytester, args: tuple[str, ...], message: str
) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("-p", "no:xdist", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert "Traceback" not in result.stderr.str()


def test_bad_ini_value_names_the_ini_key(pytester: pytest.Pytester) -> None:
    pytester.makeini(BASE_INI + "secondconf_gating_mode = sometimes\n")
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("-p", "no:xdist")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: ini secondconf_gating_mode: 'sometimes' is not valid*"])


def test_report_header_states_the_settings(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("-p", "no:xdist")
    result.stdout.fnmatch_lines(["secondconf: target=embedded default env=embedded profile=*"])


def test_malformed_system_map_is_one_usage_error_line(pytester: pytest.Pytester) -> None:
    pytester.makefile(".json", system_map='{"env": "staging", "apps": ')
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("-p", "no:xdist", "--system-map", "system_map.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: system map *system_map.json*"])
    assert len([line for line in result.stderr.lines if line.strip()]) == 1


def test_unreachable_target_is_one_usage_error_line(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("A8_TELEMETRY_KEY", "not-a-real-key")
    closed = "http://127.0.0.1:9"  # discard port: nothing listens there
    pytester.makefile(".json", system_map=json.dumps(system_map_json(closed)))
    pytester.makepyfile("def test_x(): pass")
    # In a subprocess: in-process runs re-import httpcore, and httpx then cannot map its errors.
    result = pytester.runpytest_subprocess("-p", "no:xdist", "--system-map", "system_map.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: target unreachable: no app answered /health: A1 *"])
    assert "Traceback" not in result.stderr.str()
