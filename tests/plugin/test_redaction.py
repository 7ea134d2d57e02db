"""The redaction scan finds a secret's value in every form a leak takes, names the secret
and the file but never the value, and fails the check that runs it (PRD-41)."""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from secondconf.checks.safety import secrets_scan as redaction
from secondconf.checks.safety.secrets_scan import (
    Finding,
    SecretScan,
    final_scan,
    scan_for_secrets,
    secrets_for_run,
)
from secondconf.core.redact import encodings
from secondconf.hitl.keys import KEY_ENV, PREVIOUS_KEYS_ENV
from secondconf.settings import HarnessSettings

from tests.plugin.pytester_helpers import read_results, settings_under

# Characters that URL-encoding and JSON-escaping change, so each form differs from the raw.
SECRET = 'p@ss/w0rd+"q" \\ & ünï'
OTHER = "sk_test_" + "Zq9" * 10
THIRD = "~?~?>>>>~?~?"  # its base64 has "+" and "/", so base64url differs
SECRETS = {"OIDC_CLIENT_SECRET": SECRET, "STRIPE_SECRET_KEY": OTHER, "A8_TELEMETRY_KEY": THIRD}
SUITE = Path(__file__).parents[2] / "suites" / "test_production_safety.py"


def forms_of(value: str) -> list[str]:
    """Every textual form of ``value`` a finding could give away."""
    return [value, *(needle.decode("latin-1") for needle in encodings(value))]


def assert_no_value(text: str) -> None:
    for value in SECRETS.values():
        for form in forms_of(value):
            assert form not in text


def assert_names_only(scan: SecretScan) -> None:
    for finding in scan.findings:
        assert_no_value(repr(finding))
        assert_no_value(finding.describe())
    assert_no_value("\n".join(scan.summary_lines()))
    assert_no_value(json.dumps(scan.to_dict()))


def b64_inside(prefix: bytes, value: str) -> bytes:
    return base64.b64encode(prefix + value.encode() + b"!")


OIDC = "OIDC_CLIENT_SECRET"
LEAKS: dict[str, tuple[str, str, bytes]] = {
    "raw.log": (OIDC, "raw", f"token={SECRET}\n".encode()),
    "url.txt": (OIDC, "url-encoded", f"GET /cb?s={quote(SECRET, safe='')} 200\n".encode()),
    "form.txt": (OIDC, "url-encoded", f"client_secret={quote_plus(SECRET)}&x=1".encode()),
    "json.json": (OIDC, "json-escaped", json.dumps({"s": SECRET}, ensure_ascii=False).encode()),
    "ascii.json": (OIDC, "json-escaped", json.dumps({"s": SECRET}).encode()),
    "b64.txt": (OIDC, "base64", base64.b64encode(SECRET.encode())),
    "basic.txt": (OIDC, "base64", b"Authorization: Basic " + b64_inside(b"qa-harness:", SECRET)),
    "shift1.txt": (OIDC, "base64", b64_inside(b"u", SECRET)),
    "url64.txt": ("A8_TELEMETRY_KEY", "base64url", base64.urlsafe_b64encode(THIRD.encode())),
    "dump.hex": (OIDC, "hex", SECRET.encode().hex().encode()),
}


@pytest.fixture
def leaky_tree(tmp_path: Path) -> Path:
    root = tmp_path / "outputs"
    nested = root / "evidence" / "A1" / "deep"
    nested.mkdir(parents=True)
    for name, (_, _, content) in LEAKS.items():
        (nested / name).write_bytes(b"first line\n" + content)
    binary = bytes(b for b in range(256) if b != ord("\n")) + b"\x00\xff" + OTHER.encode() + b"\0"
    (root / "capture.bin").write_bytes(binary)
    (root / "clean.txt").write_text("OIDC_CLIENT_SECRET is named here, never shown\n")
    return root


def test_each_form_of_a_leak_is_found_by_name_and_file(leaky_tree: Path) -> None:
    scan = scan_for_secrets([leaky_tree], SECRETS)
    by_file = {f.path.name: f for f in scan.findings}
    nested = leaky_tree / "evidence" / "A1" / "deep"
    for name, (secret, encoding, _) in LEAKS.items():
        finding = by_file[name]
        assert (finding.path, finding.secret, finding.encoding) == (nested / name, secret, encoding)
        assert finding.line == 2
    binary = by_file["capture.bin"]
    assert (binary.secret, binary.encoding, binary.line) == ("STRIPE_SECRET_KEY", "raw", 1)
    assert binary.offset == 257
    assert len(scan.findings) == len(LEAKS) + 1
    assert "clean.txt" not in by_file
    assert scan.files_scanned == len(LEAKS) + 2
    assert scan.searched == ["A8_TELEMETRY_KEY", "OIDC_CLIENT_SECRET", "STRIPE_SECRET_KEY"]
    assert not scan.passed
    assert_names_only(scan)


def test_a_clean_tree_gives_no_finding(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "report.md").write_text("| OIDC_CLIENT_SECRET | set |\n" * 50)
    (tmp_path / "a" / "blob.bin").write_bytes(bytes(range(256)) * 40)
    scan = scan_for_secrets([tmp_path], SECRETS)
    assert scan.findings == []
    assert scan.files_scanned == 2
    assert scan.passed
    assert scan.summary_lines() == [
        "secret scan clean: 2 file(s), secrets searched: "
        "A8_TELEMETRY_KEY, OIDC_CLIENT_SECRET, STRIPE_SECRET_KEY"
    ]


@pytest.mark.parametrize("position", [0, 5, 13, 14, 15, 16, 29, 100])
def test_a_value_across_a_chunk_boundary_is_found_once_at_its_offset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, position: int
) -> None:
    monkeypatch.setattr(redaction, "CHUNK_BYTES", 16)  # the value spans two or three chunks
    text = "\n" * 3 + "x" * position + OTHER + "y" * 20
    (tmp_path / "log").write_text(text)
    scan = scan_for_secrets([tmp_path], {"STRIPE_SECRET_KEY": OTHER})
    assert scan.findings == [Finding(tmp_path / "log", "STRIPE_SECRET_KEY", "raw", 4, 3 + position)]


def test_every_occurrence_is_reported(tmp_path: Path) -> None:
    (tmp_path / "log").write_text(f"{OTHER}\nok\n{OTHER} {OTHER}\n")
    scan = scan_for_secrets([tmp_path / "log"], {"STRIPE_SECRET_KEY": OTHER})
    assert [(f.line, f.offset) for f in scan.findings] == [(1, 0), (3, 42), (3, 81)]


def test_short_and_empty_values_are_not_searched_and_say_so(tmp_path: Path) -> None:
    (tmp_path / "log").write_text("the word qa-key appears everywhere\n")
    scan = scan_for_secrets([tmp_path], {"SHORT": "qa-key", "EMPTY": ""})
    assert scan.findings == []
    assert scan.searched == []
    assert scan.unsearched == ["SHORT: not searched (shorter than 8 characters)"]
    assert scan.not_scanned() == scan.unsearched


def test_files_it_cannot_scan_are_noted_not_skipped_silently(tmp_path: Path) -> None:
    (tmp_path / "big.log").write_text(OTHER * 10)
    (tmp_path / "small.log").write_text("fine")
    (tmp_path / "link.log").symlink_to(tmp_path / "big.log")
    (tmp_path / "linked_dir").symlink_to(tmp_path, target_is_directory=True)
    scan = scan_for_secrets(
        [tmp_path, tmp_path / "nowhere"], {"STRIPE_SECRET_KEY": OTHER}, max_file_bytes=100
    )
    assert scan.files_scanned == 1
    assert sorted(s.describe() for s in scan.skipped) == [
        f"{tmp_path / 'big.log'}: not scanned (380 bytes, over the 100-byte limit)",
        f"{tmp_path / 'link.log'}: not scanned (symlink, not followed)",
        f"{tmp_path / 'linked_dir'}: not scanned (symlink, not followed)",
    ]
    assert scan.missing == [tmp_path / "nowhere"]
    assert scan.passed  # nothing found; the gaps are listed as not scanned


def test_an_unreadable_file_is_noted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path: Path, needles: object) -> list[Finding]:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(redaction, "_scan_file", refuse)  # root can read mode 000 files
    (tmp_path / "locked.log").write_text(OTHER)
    scan = scan_for_secrets([tmp_path], {"STRIPE_SECRET_KEY": OTHER})
    assert [s.describe() for s in scan.skipped] == [
        f"{tmp_path / 'locked.log'}: not scanned (unreadable: Permission denied)"
    ]
    assert scan.files_scanned == 0


def test_an_unreadable_folder_is_noted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sub").mkdir()
    real_scandir = os.scandir

    def scandir(path: str) -> object:  # root can list mode 000 folders
        if str(path).endswith("sub"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    scan = scan_for_secrets([tmp_path], {"STRIPE_SECRET_KEY": OTHER})
    assert [s.describe() for s in scan.skipped] == [
        f"{tmp_path / 'sub'}: not scanned (folder unreadable: Permission denied)"
    ]


@pytest.fixture(autouse=True)
def unkeyed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run's secrets asserted here are the target's: the HITL log's keys, which the
    final scan adds from the environment, are tested in test_hitl_key_redaction.py."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(PREVIOUS_KEYS_ENV, raising=False)


def settings_for(tmp_path: Path, system_map: Path | None = None) -> HarnessSettings:
    return settings_under(
        tmp_path, system_map=system_map, hitl_log=tmp_path / "reports" / "hitl.log"
    )


def embedded_state(tmp_path: Path) -> Path:
    """A state directory as the shared embedded ecosystem leaves it."""
    state = tmp_path / "secondconf-embedded-target" / "state"
    (state / "logs").mkdir(parents=True)
    (state / "system_map.json").write_text("{}")
    secrets_env = state / "secrets.env"
    secrets_env.write_text("".join(f"{k}={v}\n" for k, v in SECRETS.items()))
    secrets_env.chmod(0o600)
    return state


def test_the_controller_reads_the_embedded_secrets_and_scans_every_output(tmp_path: Path) -> None:
    state = embedded_state(tmp_path)
    settings = settings_for(tmp_path)
    allure = tmp_path / "allure"
    for folder, name in [
        (settings.reports_dir, "secondconf_results.json"),
        (settings.evidence_dir, "A1_health.json"),
        (allure, "x-result.json"),
        (state / "logs", "A2.log"),
    ]:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(f"leak: {SECRET}\n")
    run = secrets_for_run(settings, {"system_map": str(state / "system_map.json")})
    assert run.values == SECRETS
    assert run.log_dirs == (state / "logs",)
    assert run.problems == ()
    scan = final_scan(settings, run.values, allure_dir=allure, log_dirs=run.log_dirs)
    assert sorted(f.path.name for f in scan.findings) == [
        "A1_health.json",
        "A2.log",
        "secondconf_results.json",
        "x-result.json",
    ]
    assert {f.secret for f in scan.findings} == {"OIDC_CLIENT_SECRET"}
    assert_names_only(scan)
    assert scan.summary_lines()[0] == "SECRET LEAK: 4 finding(s) in 4 file(s)"


def test_the_state_dir_is_not_scanned_only_its_logs(tmp_path: Path) -> None:
    state = embedded_state(tmp_path)
    settings = settings_for(tmp_path)
    run = secrets_for_run(settings, {"system_map": str(state / "system_map.json")})
    scan = final_scan(settings, run.values, log_dirs=run.log_dirs)
    assert scan.findings == []  # secrets.env holds them by design and is no output
    assert scan.passed


def test_without_the_secrets_file_the_final_scan_cannot_pass(tmp_path: Path) -> None:
    state = embedded_state(tmp_path)
    (state / "secrets.env").unlink()
    settings = settings_for(tmp_path)
    run = secrets_for_run(settings, {"system_map": str(state / "system_map.json")})
    assert run.values == {}
    assert run.problems == (
        "cannot read the embedded target's secrets.env (No such file or directory)",
    )


def test_no_target_opened_means_no_secret_to_look_for(tmp_path: Path) -> None:
    run = secrets_for_run(settings_for(tmp_path), {})
    assert (run.values, run.problems) == ({}, ())


def test_a_named_deployment_takes_the_secrets_from_the_environment(tmp_path: Path) -> None:
    environ = {"OIDC_CLIENT_SECRET": SECRET, "A8_TELEMETRY_KEY": "", "HOME": "/root"}
    run = secrets_for_run(settings_for(tmp_path, tmp_path / "map.json"), {}, environ)
    assert run.values == {"OIDC_CLIENT_SECRET": SECRET}
    assert run.log_dirs == ()


LEAKING_CHECK = """
import os
from pathlib import Path

def test_a_sloppy_check():
    folder = Path("tests/perf/evidence/A3/debug")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "request.txt").write_text("Authorization: " + os.environ["OIDC_CLIENT_SECRET"])
"""


def test_the_check_fails_naming_a_secret_a_check_wrote_to_the_evidence(
    pytester: pytest.Pytester, reachable_map: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OIDC_CLIENT_SECRET", OTHER)
    shutil.copy(SUITE, pytester.path / "test_production_safety.py")
    pytester.makepyfile(test_a_leaking=LEAKING_CHECK)  # runs first (file order)
    result = pytester.runpytest_subprocess(
        f"--system-map={pytester.path / reachable_map}", "-p", "no:cacheprovider", "-p", "no:xdist"
    )
    result.assert_outcomes(passed=2, failed=1)
    output = result.stdout.str() + result.stderr.str()
    leak = pytester.path / "tests/perf/evidence/A3/debug/request.txt"
    result.stdout.fnmatch_lines(
        [
            "*GATE FAILED: 1 of 2 check(s) not PASS*",
            "*test_no_secret_in_outputs*",
            "*outputs PRD-41 No secret in outputs [[]files[]] FAIL (CHECK_FAILED)*",
            f"*{leak}:1 (byte 15): OIDC_CLIENT_SECRET (raw)*",
        ]
    )
    assert OTHER not in output
    results = read_results(pytester)
    assert OTHER not in json.dumps(results)
    assert leak.read_text().endswith(OTHER)  # the leak was really there


LEAKING_REPORT = """
import os
from pathlib import Path
import pytest

@pytest.mark.second_confirmation
@pytest.mark.phase(3)
def test_a_check_whose_report_leaks(target):
    folder = Path("tests/perf/reports")
    folder.mkdir(parents=True, exist_ok=True)
    leaked = target.secret("OIDC_CLIENT_SECRET").reveal()
    (folder / "late.md").write_text("| key | " + leaked + " |")
"""


def test_the_plugin_scans_every_output_once_more_at_the_end_under_xdist(
    pytester: pytest.Pytester, reachable_map: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The controller (which under xdist never opens the target) scans what the run wrote
    after the reports, finds a leak written by a check that passed, and fails the run."""
    monkeypatch.setenv("OIDC_CLIENT_SECRET", OTHER)
    pytester.makepyfile(test_leaky_report=LEAKING_REPORT)
    result = pytester.runpytest_subprocess(
        f"--system-map={pytester.path / reachable_map}", "-p", "no:cacheprovider", "-n", "1"
    )
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = pytester.path / "tests/perf/reports/late.md"
    result.stdout.fnmatch_lines(
        [
            "*GATE PASSED*",
            "SECRET LEAK: 1 finding(s) in * file(s)",
            f"  {report}:1 (byte 8): OIDC_CLIENT_SECRET (raw)",
        ]
    )
    assert OTHER not in result.stdout.str() + result.stderr.str()
