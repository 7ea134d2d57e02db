"""One runner for every locust profile (:func:`secondconf.checks.load.baseline.run_profile`):
the profile's private files live in locust's working directory for the run only, and the
endpoints judged are those it hit and those the profile expects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from secondconf.checks.load.a6_billing import TOKEN_FILE, run_a6_billing
from secondconf.checks.load.baseline import BaselineResult, LocustRunOptions, run_baseline
from secondconf.checks.load.locust import BaselineError
from secondconf.core.secret import Secret
from secondconf.engine.verdict import Reason
from secondconf.target.map import write_system_map

from tests.plugin.system_maps import system_map_at

HIT = {
    "name": "A6 /v1/providers",
    "method": "POST",
    "num_requests": 1000,
    "num_failures": 0,
    "num_none_requests": 0,
    "response_times": {"20": 1000},
    "max_response_time": 20.0,
}
# A stand-in for locust: it copies what its working directory holds of the token file
# (mode and value) beside it, and writes stats of one endpoint where --json-file says.
FAKE_LOCUST = f"""#!/bin/sh
if [ -f {TOKEN_FILE} ]; then
  stat -c %a {TOKEN_FILE} > seen_mode
  cp {TOKEN_FILE} seen_token
fi
while [ "$1" != "--json-file" ]; do shift; done
printf '%s' '{json.dumps([HIT])}' > "$2.json"
"""


@pytest.fixture
def locust(tmp_path: Path) -> Path:
    fake = tmp_path / "locust"
    fake.write_text(FAKE_LOCUST)
    fake.chmod(0o755)
    return fake


@pytest.fixture
def system_map_path(tmp_path: Path) -> Path:
    path = tmp_path / "system_map.json"
    write_system_map(system_map_at("https://127.0.0.1:9443"), path)
    return path


@pytest.fixture
def options(tmp_path: Path, locust: Path) -> LocustRunOptions:
    """A one-user, one-second run of an empty profile into ``tmp_path/out``."""
    profile = tmp_path / "locustfile.py"
    profile.write_text("")
    return LocustRunOptions(
        users=1,
        spawn_rate=1,
        duration_s=1,
        locust_bin=locust,
        locustfile=profile,
        out_dir=tmp_path / "out",
    )


def test_the_billing_token_is_a_private_file_for_the_run_only(
    options: LocustRunOptions, system_map_path: Path
) -> None:
    out = options["out_dir"]
    token = Secret("PROVIDER_ACCESS_TOKEN", "token-value-1")
    result = run_a6_billing(system_map_path, token, **(options | {"rate_per_user": 1.0}))

    assert (out / "seen_token").read_text() == "token-value-1"
    assert (out / "seen_mode").read_text().strip() == "600"
    assert not (out / TOKEN_FILE).exists()
    assert _reasons(result) == {
        "A6 /v1/providers": [Reason.BOUND_CLEARS, Reason.BOUND_CLEARS],
        "A6 /v1/listings": [Reason.NO_DATA, Reason.NO_DATA],
        "A6 /v1/billing": [Reason.NO_DATA, Reason.NO_DATA],
    }


def test_the_token_file_goes_when_locust_cannot_run(
    locust: Path, options: LocustRunOptions, system_map_path: Path
) -> None:
    locust.write_text("#!/bin/sh\nexit 3\n")
    token = Secret("PROVIDER_ACCESS_TOKEN", "token-value-2")

    with pytest.raises(BaselineError, match="locust exited with 3"):
        run_a6_billing(system_map_path, token, **options)
    assert not (options["out_dir"] / TOKEN_FILE).exists()


def test_the_baseline_writes_no_private_file_and_expects_every_read_path(
    options: LocustRunOptions, system_map_path: Path
) -> None:
    result = run_baseline(system_map_path, **options)

    assert not (options["out_dir"] / "seen_token").exists()
    assert result.run.rate_per_user == 10.0
    reasons = _reasons(result)
    assert reasons["A6 /v1/providers"] == [Reason.BOUND_CLEARS, Reason.BOUND_CLEARS]
    assert reasons["A1 /jwks.json"] == [Reason.NO_DATA, Reason.NO_DATA]
    assert reasons["A8 /health"] == [Reason.NO_DATA, Reason.NO_DATA]


def _reasons(result: BaselineResult) -> dict[str, list[Reason]]:
    return {name: [v.reason for v in verdicts] for name, verdicts in result.verdicts.items()}
