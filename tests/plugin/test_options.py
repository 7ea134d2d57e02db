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
    assert run_show(pytester) == "SETTINGS embedded embedded-short 3.0 25.0 wilson fixed 0.95 8.0"


def test_ini_sets_a_value(pytester: pytest.Pytester) -> None:
    pytester.makeini(BASE_INI + "secondconf_decision_method = exact\nsecondconf_burn_in = 2m\n")
    assert run_show(pytester).split()[3:6] == ["120.0", "25.0", "exact"]


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
        (("--confidence", "nan"), "*--confidence: 'nan' is not a finite number*"),
        (("--burn-in", "400d"), "*--burn-in: duration '400d' is longer than 366 days*"),
        (("--stable-window", "0"), "*--stable-window must be longer than zero*"),
        (("--probe-rate", "-3"), "*--probe-rate: '-3' must be from 0.1 to 62.5 probes per second*"),
        (("--probe-rate", "nan"), "*--probe-rate: 'nan' is not a finite number*"),
        (("--probe-rate", "inf"), "*--probe-rate: 'inf' is not a finite number*"),
        (("--probe-rate", "1e-9"), "*--probe-rate: '1e-9' must be from 0.1 to 62.5 *"),
        (("--probe-rate", "1e9"), "*--probe-rate: '1e9' must be from 0.1 to 62.5 *"),
        (("--probe-rate", "63"), "*--probe-rate: '63' must be from 0.1 to 62.5 *measured 1000*"),
        (("--probe-rate", "fast"), "*--probe-rate: 'fast' is not a number*"),
        (("--telemetry-deadline", "0"), "*--telemetry-deadline: '0' must be longer than zero*"),
        (("--telemetry-deadline", "2h"), "*--telemetry-deadline: '2h' must be * at most 1h*"),
        (("--telemetry-deadline", "nan"), "*--telemetry-deadline: 'nan' is not a duration*"),
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


def test_a_given_value_is_used_even_where_it_is_falsy_looking(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_show(pytestconfig):
            from secondconf.pytest_plugin.state import SETTINGS_KEY
            s = pytestconfig.stash[SETTINGS_KEY]
            print("VALUES", s.telemetry_deadline_s, s.probe_rate, s.profile.burn_in_s)
        """
    )
    values = ("--telemetry-deadline", "500ms", "--probe-rate", "0.1", "--burn-in", "0")
    result = pytester.runpytest("-s", "-p", "no:xdist", *values)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*VALUES 0.5 0.1 0.0*"])


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


def test_the_system_maps_env_decides_without_env(
    pytester: pytest.Pytester, reachable_map: str
) -> None:
    line = run_show(pytester, "--system-map", reachable_map)  # a staging map
    assert line.split()[1:5] == ["staging", "seed-15m", "900.0", "900.0"]


@pytest.mark.parametrize(
    ("args", "ini", "origin"),
    [
        (("--env", "prod_observe"), "", "--env"),
        ((), "secondconf_env = embedded\n", "ini secondconf_env"),
    ],
)
def test_an_env_that_contradicts_the_map_is_one_usage_error_naming_both(
    pytester: pytest.Pytester,
    reachable_map: str,
    args: tuple[str, ...],
    ini: str,
    origin: str,
) -> None:
    pytester.makeini(BASE_INI + ini)
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("-p", "no:xdist", "--system-map", reachable_map, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    given = "prod_observe" if args else "embedded"
    result.stderr.fnmatch_lines(
        [f"ERROR: {origin} {given} disagrees with env staging of the system map *system_map.json*"]
    )
    assert len([line for line in result.stderr.lines if line.strip()]) == 1
