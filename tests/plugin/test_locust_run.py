"""Where locust and its profiles are found (the project root, never the installed package),
and the one-line errors that stop a run before locust starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from secondconf.checks.load.locust import (
    LOCUST_ENV,
    BaselineError,
    baseline_locustfile,
    locust_bin,
    run_locust,
)
from secondconf.core.clock import SystemClock


def test_locust_and_the_profile_come_from_the_project_root(tmp_path: Path) -> None:
    assert locust_bin(tmp_path, environ={}) == tmp_path / ".venv-locust" / "bin" / "locust"
    assert baseline_locustfile(tmp_path) == tmp_path / "perf" / "locustfile_baseline.py"


def test_the_environment_names_another_locust(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere" / "locust"

    assert locust_bin(tmp_path, environ={LOCUST_ENV: str(elsewhere)}) == elsewhere


def _run(tmp_path: Path, locust: Path, locustfile: Path) -> None:
    run_locust(
        locust,
        locustfile,
        tmp_path / "system_map.json",
        None,
        users=1,
        spawn_rate=1,
        duration_s=1,
        rate_per_user=1,
        out_dir=tmp_path / "out",
        clock=SystemClock(),
    )


def test_a_missing_locust_is_one_line_naming_the_setup(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match=r"locust not found at .*scripts/setup.sh") as error:
        _run(tmp_path, tmp_path / "no-locust", baseline_locustfile(tmp_path))
    assert "\n" not in str(error.value)
    assert not (tmp_path / "out").exists()


def test_a_project_root_without_the_profiles_is_one_line(tmp_path: Path) -> None:
    fake = tmp_path / "locust"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)

    with pytest.raises(BaselineError, match="locust profile not found") as error:
        _run(tmp_path, fake, baseline_locustfile(tmp_path))
    assert str(baseline_locustfile(tmp_path)) in str(error.value)
    assert not (tmp_path / "out").exists()


def test_the_settings_carry_pytests_rootdir_as_the_project_root(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pytester fixture (conftest) gives it the project's ini settings: that ini file
    # makes pytester.path the rootdir, and leaves the inner run free of warnings.
    tests = pytester.mkdir("checks")
    root = str(pytester.path)
    (tests / "test_root.py").write_text(
        "from pathlib import Path\n"
        "from secondconf.pytest_plugin.state import SETTINGS_KEY\n\n"
        "def test_root(request):\n"
        f"    assert request.config.stash[SETTINGS_KEY].project_root == Path({root!r})\n"
    )
    monkeypatch.chdir(tests)  # invoked below the rootdir: the root is still the rootdir

    result = pytester.runpytest("-p", "no:cacheprovider")

    result.assert_outcomes(passed=1)
