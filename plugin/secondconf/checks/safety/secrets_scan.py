"""Redaction: no secret value in any file the run wrote.

Secrets travel by name only (contract §2): reports, evidence, logs and Allure results may
name ``OIDC_CLIENT_SECRET`` but must never hold its value. :func:`scan_for_secrets` walks
files and folders and reports each place a value appears, as the file, the secret's
*name*, the encoding, the line and the byte offset. A :class:`Finding` never holds the
value, and nothing here prints, logs or returns one.

What counts as the value appearing: each of its forms in
:func:`secondconf.core.redact.encodings` (raw, URL-encoded, JSON-escaped, base64 and
base64url at three alignments, hex), the same forms :func:`secondconf.core.redact.redact`
masks in what pytest prints and writes. Text that is no file (the gate's own terminal
summary) is searched the same way.

Files are read in chunks with an overlap, so any size is scanned in bounded memory and
binary files are fine; a file over ``max_file_bytes`` (default 64 MiB: nothing the
harness writes comes close) is skipped *with a note*, as is a symlink (not followed) or
a file that cannot be read. Those notes are what keep a clean scan honest: the check
lists them as not scanned.

Values shorter than :data:`MIN_SECRET_LENGTH` (8) are not searched, and are listed by
name as such: a value that short matches ordinary text (``qa``, ``true``, a port), so a
scan for it would fail runs for nothing, and it gives no protection worth the name.
Every secret the harness or the reference target generates is 32+ characters.

Where the controller gets the values
------------------------------------
The final scan runs on the controller after the reports are written, and under xdist the
controller never opens the target. Secret values must not travel between processes (not
in worker output, not in a file of ours), so the controller reads them where the workers
did (:func:`secrets_for_run`):

* a deployment named by ``--system-map``: the same environment variables
  :func:`secondconf.target.deployment.open_target` reads (the controller has the same environment);
* the embedded default: ``secrets.env`` (0600) in the shared ecosystem's state directory,
  which holds the values for the session's processes by design (``reftarget.launch.secrets``).
  The controller learns that directory from ``run_info["system_map"]``, the path of the
  system map the ``target`` fixture records (workers hand their run info over): the map
  sits in the state directory, the apps' logs in ``<state>/logs``. The shared state
  directory is left in place when the ecosystem stops, so the file is still there at
  session end;
* and in either case the HITL log's keys (``HITL_LOG_KEY``, each key of
  ``HITL_LOG_PREVIOUS_KEYS``): the harness's own secrets, from the environment where the
  log reads them (:func:`secondconf.hitl.keys.key_secrets`).
"""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Final

from secondconf.contract.platform import SECRET_ENV_VARS
from secondconf.core.redact import MIN_SECRET_LENGTH, encodings
from secondconf.core.walk import scannable_files
from secondconf.hitl.keys import key_secrets
from secondconf.settings import HarnessSettings
from secondconf.target.control import ADMIN_TOKEN_ENV

DEFAULT_MAX_FILE_BYTES: Final = 64 * 1024 * 1024
CHUNK_BYTES: Final = 1024 * 1024
SECRETS_FILE: Final = "secrets.env"  # reftarget.launch.secrets.SECRETS_FILE (no import: the
# plugin must not need the reference target to check a deployment)
LOGS_DIR: Final = "logs"
# What open_target reads from the environment for a deployment named by a system map.
ENV_SECRET_NAMES: Final = (*SECRET_ENV_VARS, ADMIN_TOKEN_ENV)


@dataclass(frozen=True)
class Finding:
    """A secret's value found in a file: where, which secret (by name), in what form."""

    path: Path
    secret: str
    encoding: str
    line: int
    offset: int

    def describe(self) -> str:
        return f"{self.path}:{self.line} (byte {self.offset}): {self.secret} ({self.encoding})"


@dataclass(frozen=True)
class SkippedFile:
    path: Path
    reason: str

    def describe(self) -> str:
        return f"{self.path}: not scanned ({self.reason})"


@dataclass
class SecretScan:
    """What a scan found, and what it could not look at.

    ``problems`` are reasons the scan cannot vouch for the run (the secret values could
    not be read): a scan with problems has not passed even with no finding.
    """

    findings: list[Finding] = field(default_factory=list)
    files_scanned: int = 0
    texts_scanned: list[str] = field(default_factory=list)  # labels of text that is no file
    skipped: list[SkippedFile] = field(default_factory=list)
    missing: list[Path] = field(default_factory=list)
    searched: list[str] = field(default_factory=list)
    unsearched: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.findings and not self.problems

    def violations(self) -> list[str]:
        return [finding.describe() for finding in self.findings]

    def not_scanned(self) -> list[str]:
        """Files and secrets the scan could not cover, each with its reason."""
        return [s.describe() for s in self.skipped] + self.unsearched

    def summary_lines(self) -> list[str]:
        """For the terminal summary: the verdict, then each finding and each gap."""
        if self.findings:
            head = f"SECRET LEAK: {len(self.findings)} finding(s) in {self._scanned()}"
        elif self.problems:
            head = "SECRET SCAN INCOMPLETE: " + "; ".join(self.problems)
        else:
            names = ", ".join(self.searched) or "none"
            head = f"secret scan clean: {self._scanned()}, secrets searched: {names}"
        return [head, *(f"  {line}" for line in self.violations() + self.not_scanned())]

    def _scanned(self) -> str:
        return " and ".join([*self.texts_scanned, f"{self.files_scanned} file(s)"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "files_scanned": self.files_scanned,
            "texts_scanned": list(self.texts_scanned),
            "findings": self.violations(),
            "not_scanned": self.not_scanned(),
            "missing": [str(p) for p in self.missing],
            "searched": list(self.searched),
            "problems": list(self.problems),
        }


def scan_for_secrets(
    paths: Iterable[Path],
    secrets: Mapping[str, str],
    *,
    texts: Mapping[str, str] | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> SecretScan:
    """Look for every value of ``secrets`` (name -> value) in the files under ``paths``,
    and in ``texts`` (label -> text: output that is no file; a finding names the label).

    A path that does not exist is noted in ``missing`` (nothing was written there). A file
    reached twice (nested paths) is scanned once.
    """
    scan = SecretScan()
    needles: dict[bytes, tuple[str, str]] = {}
    for name, value in sorted(secrets.items()):
        if not value:
            continue
        if len(value) < MIN_SECRET_LENGTH:
            scan.unsearched.append(
                f"{name}: not searched (shorter than {MIN_SECRET_LENGTH} characters)"
            )
            continue
        scan.searched.append(name)
        for needle, encoding in encodings(value).items():
            needles.setdefault(needle, (name, encoding))
    seen: set[Path] = set()
    for path in paths:
        for file, problem in scannable_files(Path(path), max_file_bytes):
            if file in seen:
                continue
            seen.add(file)
            if problem == "missing":
                scan.missing.append(file)
            elif problem is not None:
                scan.skipped.append(SkippedFile(file, problem))
            elif needles:
                try:
                    scan.findings.extend(_scan_file(file, needles))
                except OSError as error:
                    scan.skipped.append(SkippedFile(file, f"unreadable: {error.strerror}"))
                    continue
                scan.files_scanned += 1
            else:
                scan.files_scanned += 1
    for label, text in (texts or {}).items():
        if needles:
            scan.findings.extend(_scan_stream(Path(label), io.BytesIO(text.encode()), needles))
        scan.texts_scanned.append(label)
    return scan


def _scan_file(path: Path, needles: Mapping[bytes, tuple[str, str]]) -> list[Finding]:
    with path.open("rb") as handle:
        return _scan_stream(path, handle, needles)


def _scan_stream(
    path: Path, handle: BinaryIO, needles: Mapping[bytes, tuple[str, str]]
) -> list[Finding]:
    """Every occurrence of every needle, read in chunks that overlap by the longest
    needle less one byte (a match across a chunk boundary is found once)."""
    overlap = max(len(n) for n in needles) - 1
    findings: list[Finding] = []
    tail = b""
    buffer_offset = 0  # file offset of the buffer's first byte
    lines_before = 0  # newlines before the buffer
    while chunk := handle.read(CHUNK_BYTES):
        buffer = tail + chunk
        for needle, (name, encoding) in needles.items():
            at = buffer.find(needle)
            while at != -1:
                if at + len(needle) > len(tail):  # not wholly in the part seen before
                    line = lines_before + buffer.count(b"\n", 0, at) + 1
                    findings.append(Finding(path, name, encoding, line, buffer_offset + at))
                at = buffer.find(needle, at + 1)
        consumed = len(buffer) - min(overlap, len(buffer))
        lines_before += buffer.count(b"\n", 0, consumed)
        buffer_offset += consumed
        tail = buffer[consumed:]
    findings.sort(key=lambda f: (f.offset, f.secret))
    return findings


# -- the run's outputs and secrets ----------------------------------------------------------


def output_dirs(
    settings: HarnessSettings,
    *,
    allure_dir: Path | None = None,
    log_dirs: Sequence[Path] = (),
) -> list[Path]:
    """The folders a run writes: evidence, reports, Allure results, the target's logs."""
    dirs = [settings.evidence_dir, settings.reports_dir]
    if allure_dir is not None:
        dirs.append(allure_dir)
    return [*dirs, *log_dirs]


@dataclass(frozen=True)
class RunSecrets:
    """The secret values of a run, the target's log folders, and why values are missing."""

    values: Mapping[str, str]
    log_dirs: tuple[Path, ...] = ()
    problems: tuple[str, ...] = ()


def secrets_for_run(
    settings: HarnessSettings,
    run_info: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
) -> RunSecrets:
    """Where the controller finds the run's secret values (see the module docstring):
    the target's, and the HITL log's keys."""
    environ = os.environ if environ is None else environ
    run = _target_secrets(settings, run_info, environ)
    return dataclasses.replace(run, values={**run.values, **key_secrets(environ)})


def _target_secrets(
    settings: HarnessSettings, run_info: Mapping[str, Any], environ: Mapping[str, str]
) -> RunSecrets:
    if settings.system_map is not None:
        return RunSecrets({n: environ[n] for n in ENV_SECRET_NAMES if environ.get(n)})
    map_path = run_info.get("system_map")
    if not map_path:  # no check opened the embedded target: it never ran, nothing to leak
        return RunSecrets({})
    state_dir = Path(map_path).parent
    log_dirs = (state_dir / LOGS_DIR,)
    try:
        return RunSecrets(read_secrets_env(state_dir / SECRETS_FILE), log_dirs)
    except OSError as error:
        problem = f"cannot read the embedded target's {SECRETS_FILE} ({error.strerror})"
        return RunSecrets({}, log_dirs, (problem,))


def read_secrets_env(path: Path) -> dict[str, str]:
    """``NAME=value`` lines, as ``reftarget.launch.secrets.write_secrets_file`` writes them."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip():
            values[name.strip()] = value
    return values


def final_scan(
    settings: HarnessSettings,
    secrets: Mapping[str, str],
    *,
    allure_dir: Path | None = None,
    log_dirs: Sequence[Path] = (),
    files: Sequence[Path] = (),
    texts: Mapping[str, str] | None = None,
) -> SecretScan:
    """Scan every output folder of the run for ``secrets``, and ``files`` written
    elsewhere (a ``--junitxml`` file) and ``texts`` (the gate's terminal summary)."""
    folders = output_dirs(settings, allure_dir=allure_dir, log_dirs=log_dirs)
    return scan_for_secrets([*folders, *files], secrets, texts=texts)
