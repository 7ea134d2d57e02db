"""The HITL approvals log: an append-only, hash-chained JSON Lines file.

Risky test actions (load above 60 VUs, fault injection, production writes, …) run only
under a logged human approval; what the harness itself changes on a target (contract §9:
fault switches, clock moves, their rollback) is logged as an ``action``. Every line
carries the SHA-256 of its own canonical JSON and the hash of the line before, so editing,
deleting, reordering or forging a line breaks the chain at a line we can name. A log that
does not verify is never trusted: loading it raises ``ApprovalLogError`` and restricted
tests do not run.

That unkeyed chain detects accidents, not tampering: whoever can edit the file can
recompute the hashes. With ``HITL_LOG_KEY`` set (:mod:`secondconf.hitl.keys`) every entry
also carries an HMAC-SHA256 chain under that key, which an editor without the key cannot
recompute. A log is keyed or unkeyed as a whole: with the key set an entry without a MAC
is refused (it could have been stripped), and a keyed log read without the key is an
error that says the key is needed.

Limitation (inherent to any chain without an external anchor): dropping whole entries
from the *end* leaves a valid, shorter chain. ``ApprovalLog.head`` is what to record
elsewhere (CI output, a ticket) if that matters.

This module has no pytest import: the plugin, the CLI and tests share it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import re
import stat
import threading
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from secondconf.contract.platform import APP_IDS, ENVS
from secondconf.core.clock import Clock, utc_iso
from secondconf.core.files import write_atomic
from secondconf.hitl.keys import KEY_ENV, KEY_ID_HEX, PREVIOUS_KEYS_ENV, LogKeys

__all__ = [
    "DEFAULT_LOG_PATH",
    "DEFAULT_MAX_APPROVAL",
    "ENVS",
    "GATES",
    "GENESIS",
    "HARNESS",
    "MAX_LOG_BYTES",
    "Action",
    "Approval",
    "ApprovalLog",
    "ApprovalLogError",
    "ApprovalTooLongError",
    "Escalation",
    "RunRecord",
    "Use",
    "append_approval",
    "format_length",
    "record_action",
    "record_escalation",
    "record_run",
    "record_use",
]

GATES: Final = (
    "load_over_60_vus",
    "inject_503",
    "prod_write",
    "oidc_cookie_policy",
    "secret_rotation",
)

DEFAULT_LOG_PATH: Final = Path("tests/perf/reports/hitl_approvals.log")
GENESIS: Final = "0" * 64
"""The ``prev`` (and previous MAC) of the first entry."""
DEFAULT_MAX_APPROVAL: Final = timedelta(days=7)
"""The longest an approval may last unless the reader or writer states another cap: an
approval is a decision about one release, not a standing permission."""
MAX_LOG_BYTES: Final = 16 * 1024 * 1024
"""A log larger than this is refused unread (archive it and start a new one)."""
HARNESS: Final = "harness"
"""The ``who`` of the harness's own actions."""

SNAPSHOT_FORMAT: Final = "secondconf-hitl-log/1"
"""Tag of the ``to_json`` form, so a worker never misreads some other dict."""

_COMMON_FIELDS: Final = ("seq", "kind", "at", "prev", "hash")
_KIND_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "approval": ("who", "gate", "env", "reason", "expires_at"),
    "use": ("approval_id", "test_id", "gate", "env"),
    # ``kind`` is taken by the entry kind, so an escalation's own kind is ``escalation``.
    "escalation": ("escalation", "detail"),
    "action": ("who", "what", "app", "env"),
    # One per gate run (the controller, at its end): ``record`` is the only object field.
    "run": ("run_id", "record"),
}
_OBJECT_FIELDS: Final = frozenset({"record"})
_MAC_FIELDS: Final = ("key_id", "mac")
"""Present in every entry of a keyed log, in none of an unkeyed one."""
_HEX64 = re.compile(r"[0-9a-f]{64}")
_KEY_ID = re.compile(rf"[0-9a-f]{{{KEY_ID_HEX}}}")
_ESCALATION_KIND = re.compile(r"[a-z][a-z0-9_]{0,63}")

Entry = dict[str, Any]


class ApprovalLogError(Exception):
    """The log cannot be trusted: unreadable, malformed, or its hash chain is broken.

    The message is one line naming the file, the line and the problem, because it is shown
    on its own (as a ``pytest.UsageError`` or a CLI error).
    """


class ApprovalTooLongError(ValueError):
    """An approval would last longer than the cap it is written under."""


@dataclass(frozen=True)
class Approval:
    """A human's permission to run one gate's restricted tests in one env until a deadline."""

    id: str
    """The approval entry's hash; ``use`` entries point at it."""
    seq: int
    who: str
    gate: str
    env: str
    reason: str
    approved_at: datetime
    expires_at: datetime

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def length(self) -> timedelta:
        return self.expires_at - self.approved_at

    def is_active(self, now: datetime) -> bool:
        """True until ``expires_at`` (exclusive: at ``expires_at`` it has expired)."""
        return now < self.expires_at


@dataclass(frozen=True)
class Use:
    """A restricted test ran under an approval."""

    id: str
    seq: int
    approval_id: str
    test_id: str
    gate: str
    env: str
    at: datetime


@dataclass(frozen=True)
class Escalation:
    """Something a human must look at (Stripe live failure, OIDC regression, …)."""

    id: str
    seq: int
    kind: str
    detail: str
    at: datetime


@dataclass(frozen=True)
class Action:
    """A change the harness made to a target (§9): a fault switch, a clock move, a rollback."""

    id: str
    seq: int
    who: str
    what: str
    app: str
    env: str
    at: datetime


@dataclass(frozen=True)
class RunRecord:
    """One gate run: start, end, result, approvals used, actions, faults, escalations.

    ``record`` is the JSON object the run wrote (:mod:`secondconf.hitl.run_record` builds it).
    """

    id: str
    seq: int
    run_id: str
    record: Mapping[str, Any]
    at: datetime


@dataclass(frozen=True)
class ApprovalLog:
    """A verified, immutable snapshot of the log.

    Only ``load``/``from_json`` build one, and both verify the whole chain first, so holding
    an ``ApprovalLog`` means holding a log that verified. ``entries`` are the raw entries as
    plain dicts (treat them as read-only).
    """

    path: Path
    entries: tuple[Entry, ...]
    approvals: tuple[Approval, ...]
    uses: tuple[Use, ...]
    escalations: tuple[Escalation, ...]
    actions: tuple[Action, ...]
    head: str
    """Hash of the last entry, or ``GENESIS`` for an empty log."""
    protection: str
    """What protects it: keyed (HMAC chain, with the key id) or unkeyed, in one phrase."""
    runs: tuple[RunRecord, ...] = ()

    @classmethod
    def load(cls, path: str | os.PathLike[str], keys: LogKeys | None = None) -> ApprovalLog:
        """Read and verify the log; a missing file is an empty (valid) log.

        ``keys`` default to the environment's (``HITL_LOG_KEY``, ``HITL_LOG_PREVIOUS_KEYS``).
        """
        log_path = Path(path)
        return _parse(_read(log_path), log_path, _keys(keys, f"HITL approvals log {log_path}"))

    def valid_approval(
        self,
        gate: str,
        env: str,
        now: datetime,
        *,
        max_length: timedelta | None = DEFAULT_MAX_APPROVAL,
    ) -> Approval | None:
        """The latest approval for ``gate`` in ``env`` that is active at ``now`` and lasts
        at most ``max_length`` (``None``: however long)."""
        _check_choice("gate", gate, GATES)
        _check_choice("env", env, ENVS)
        _check_aware("now", now)
        for approval in reversed(self.approvals):
            if (
                approval.gate == gate
                and approval.env == env
                and approval.is_active(now)
                and (max_length is None or approval.length <= max_length)
            ):
                return approval
        return None

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (for xdist ``workerinput``); ``from_json`` re-verifies it."""
        return {
            "format": SNAPSHOT_FORMAT,
            "path": str(self.path),
            "head": self.head,
            "entries": [dict(entry) for entry in self.entries],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], keys: LogKeys | None = None) -> ApprovalLog:
        """Rebuild a snapshot from ``to_json`` output, verifying the chains and the head.

        The head check catches a snapshot whose trailing entries were dropped, which the
        chain alone cannot.
        """
        if not isinstance(data, Mapping) or data.get("format") != SNAPSHOT_FORMAT:
            raise ApprovalLogError(f"HITL approvals snapshot: not a {SNAPSHOT_FORMAT} snapshot")
        path, head, entries = data.get("path"), data.get("head"), data.get("entries")
        if not isinstance(path, str) or not isinstance(head, str) or not isinstance(entries, list):
            raise ApprovalLogError(
                "HITL approvals snapshot: needs string 'path' and 'head' and list 'entries'"
            )
        source = f"HITL approvals log {path} (snapshot)"
        numbered = [(n, e) for n, e in enumerate(entries, 1)]
        log = _build(Path(path), source, numbered, _keys(keys, source))
        if log.head != head:
            raise ApprovalLogError(
                f"{source}: head is {log.head[:12]} but the snapshot says {head[:12]}"
                " (entries dropped from the end?)"
            )
        return log


# --- appending -------------------------------------------------------------------------


def append_approval(
    path: str | os.PathLike[str],
    *,
    who: str,
    gate: str,
    env: str,
    reason: str,
    expires_at: datetime,
    clock: Clock,
    max_length: timedelta = DEFAULT_MAX_APPROVAL,
    keys: LogKeys | None = None,
) -> Approval:
    """Log a human approval for ``gate`` in ``env`` until ``expires_at``, at most
    ``max_length`` from now."""
    _check_text("who", who)
    _check_text("reason", reason)
    _check_choice("gate", gate, GATES)
    _check_choice("env", env, ENVS)
    _check_aware("expires_at", expires_at)

    def build(_log: ApprovalLog, now: datetime) -> Entry:
        # Compared as a difference first: utc_iso of a year-9999 time with an offset overflows.
        length = expires_at - now
        if length > max_length:
            raise ApprovalTooLongError(
                f"the approval would last {format_length(length)}, longer than the cap of "
                f"{format_length(max_length)}"
            )
        if length <= timedelta(0):
            raise ValueError(f"expires_at {utc_iso(expires_at)} is not after now ({utc_iso(now)})")
        return {
            "kind": "approval",
            "who": who,
            "gate": gate,
            "env": env,
            "reason": reason,
            "expires_at": utc_iso(expires_at),
        }

    log = _append(Path(path), build, clock, keys)
    return log.approvals[-1]


def record_use(
    path: str | os.PathLike[str],
    approval: Approval,
    *,
    test_id: str,
    clock: Clock,
    keys: LogKeys | None = None,
) -> Use:
    """Log that restricted test ``test_id`` runs under ``approval``.

    Refuses (ValueError) if the approval has expired, and (ApprovalLogError) if the log on
    disk no longer holds that approval, e.g. it was replaced since the snapshot was taken.
    """
    _check_nonempty("test_id", test_id)

    def build(log: ApprovalLog, now: datetime) -> Entry:
        if approval not in log.approvals:
            raise ApprovalLogError(
                f"HITL approvals log {log.path}: approval {approval.short_id} "
                f"({approval.gate}/{approval.env}) is not in this log"
            )
        if not approval.is_active(now):
            raise ValueError(
                f"approval {approval.short_id} ({approval.gate}/{approval.env}) expired at "
                f"{utc_iso(approval.expires_at)}; {test_id} may not run under it"
            )
        return {
            "kind": "use",
            "approval_id": approval.id,
            "test_id": test_id,
            "gate": approval.gate,
            "env": approval.env,
        }

    log = _append(Path(path), build, clock, keys)
    return log.uses[-1]


def record_escalation(
    path: str | os.PathLike[str],
    *,
    kind: str,
    detail: str,
    clock: Clock,
    keys: LogKeys | None = None,
) -> Escalation:
    """Log an escalation; ``kind`` is a snake_case word such as ``stripe_live_failure``."""
    _check_escalation_kind(kind)
    _check_nonempty("detail", detail)

    def build(_log: ApprovalLog, _now: datetime) -> Entry:
        return {"kind": "escalation", "escalation": kind, "detail": detail}

    log = _append(Path(path), build, clock, keys)
    return log.escalations[-1]


def record_run(
    path: str | os.PathLike[str],
    *,
    run_id: str,
    record: Mapping[str, Any],
    clock: Clock,
    keys: LogKeys | None = None,
) -> RunRecord:
    """Log one gate run's record (a JSON object) under ``run_id``."""
    _check_text("run_id", run_id)
    if not isinstance(record, Mapping):
        raise ValueError("record must be a JSON object")
    body = json.loads(_canonical(record))  # a JSON-safe copy; ValueError if it is not JSON

    def build(_log: ApprovalLog, _now: datetime) -> Entry:
        return {"kind": "run", "run_id": run_id, "record": body}

    log = _append(Path(path), build, clock, keys)
    return log.runs[-1]


def record_action(
    path: str | os.PathLike[str],
    *,
    what: str,
    app: str,
    env: str,
    clock: Clock,
    who: str = HARNESS,
    keys: LogKeys | None = None,
) -> Action:
    """Log a change ``who`` made to ``app`` in ``env`` (contract §9), e.g. a clock move."""
    _check_text("who", who)
    _check_text("what", what)
    _check_choice("app", app, APP_IDS)
    _check_choice("env", env, ENVS)

    def build(_log: ApprovalLog, _now: datetime) -> Entry:
        return {"kind": "action", "who": who, "what": what, "app": app, "env": env}

    log = _append(Path(path), build, clock, keys)
    return log.actions[-1]


def _append(
    path: Path,
    build: Callable[[ApprovalLog, datetime], Entry],
    clock: Clock,
    keys: LogKeys | None,
) -> ApprovalLog:
    """Add one entry under an exclusive lock, atomically; return the new snapshot.

    The lock lives in a sibling file because ``os.replace`` swaps the log's inode, so a
    lock on the log itself would not exclude the next writer. Writing the full content to
    a temp file and renaming it means readers (who take no lock) see the old or the new
    log, never half a line.
    """
    source = f"HITL approvals log {path}"
    log_keys = _keys(keys, source)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(path.with_name(path.name + ".lock"), source):
        old = _read(path)
        log = _parse(old, path, log_keys)
        now = clock.now()
        _check_aware("clock.now()", now)
        entry: Entry = build(log, now)
        entry.update(seq=len(log.entries), at=utc_iso(now), prev=log.head)
        if log_keys.current_id is not None:
            entry["key_id"] = log_keys.current_id
        entry["hash"] = _entry_hash(entry)
        if log_keys.current_id is not None:
            previous_mac = log.entries[-1]["mac"] if log.entries else GENESIS
            entry["mac"] = log_keys.mac(log_keys.current_id, previous_mac, _canonical(entry))
        line = (_canonical(entry) + "\n").encode("utf-8")
        if old and not old.endswith(b"\n"):
            old += b"\n"
        new = old + line
        if len(new) > MAX_LOG_BYTES:
            raise ApprovalLogError(
                f"{source}: one more entry would pass the {_MAX_LOG_TEXT} a log may hold;"
                " archive it and start a new one"
            )
        write_atomic(path, new)
    return _parse(new, path, log_keys)


@contextlib.contextmanager
def _exclusive_lock(lock_path: Path, source: str) -> Iterator[None]:
    # The lock file is never deleted: deleting it would let two writers lock two inodes.
    # O_NONBLOCK: a FIFO planted at the lock's path fails to open instead of hanging.
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(lock_path, flags, 0o644)
    except OSError as exc:
        raise ApprovalLogError(
            f"{source}: cannot open its lock file {lock_path}: {exc.strerror or exc}"
        ) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ApprovalLogError(f"{source}: its lock file {lock_path} is not a regular file")
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def format_length(length: timedelta) -> str:
    """A duration the way people write one (``7d``, ``1h30m``, ``45s``), to the second."""
    seconds = round(length.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


# --- reading and verifying -------------------------------------------------------------

_MAX_LOG_TEXT: Final = f"{MAX_LOG_BYTES // (1024 * 1024)} MiB"


def _keys(keys: LogKeys | None, source: str) -> LogKeys:
    """``keys``, or the environment's; a bad key setting names the log it stopped."""
    if keys is not None:
        return keys
    try:
        return LogKeys.from_environ()
    except ValueError as error:
        raise ApprovalLogError(f"{source}: {error}") from None


def _read(path: Path) -> bytes:
    """The log's bytes, only from a regular file of at most ``MAX_LOG_BYTES``.

    Opened with ``O_NONBLOCK`` and checked with ``fstat`` before reading: a FIFO or a
    device named as the log would otherwise block or never end.
    """
    source = f"HITL approvals log {path}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return b""
    except OSError as exc:
        raise ApprovalLogError(f"{source}: cannot read it: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ApprovalLogError(
                f"{source}: cannot read it: not a regular file ({_file_type(info.st_mode)})"
            )
        if info.st_size > MAX_LOG_BYTES:
            raise ApprovalLogError(
                f"{source}: {info.st_size} bytes, more than the {_MAX_LOG_TEXT} a log may hold;"
                " archive it and start a new one"
            )
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, 1 << 20):
            size += len(chunk)
            if size > MAX_LOG_BYTES:  # it grew after fstat
                raise ApprovalLogError(f"{source}: more than the {_MAX_LOG_TEXT} a log may hold")
            chunks.append(chunk)
    except OSError as exc:
        raise ApprovalLogError(f"{source}: cannot read it: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def _file_type(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a file"


def _canonical(entry: Mapping[str, Any]) -> str:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _entry_hash(entry: Mapping[str, Any]) -> str:
    body = {key: value for key, value in entry.items() if key not in ("hash", "mac")}
    return hashlib.sha256(_canonical(body).encode("utf-8")).hexdigest()


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads would silently keep the last of two equal keys: a way to hide an edit.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _parse(raw: bytes, path: Path, keys: LogKeys) -> ApprovalLog:
    """Split JSON Lines, decode each line strictly, then verify the chains."""
    return _verified(raw, path, keys).snapshot(path, keys)


# The last chain each log verified to, with the bytes it verified: an append, and each read
# after it, verifies only the lines after that prefix when the file still starts with it
# byte for byte (anything else changed: the whole log again). Without this every logged
# action re-verified the whole log twice (hashes and canonical JSON of every line: 66 ms
# for 2,256 entries), in the thread the drills log from, starving the prober's event loop.
_VERIFIED: dict[tuple[Path, tuple[str | None, frozenset[str]]], tuple[bytes, _Chain]] = {}
_VERIFIED_LOCK = threading.Lock()


def _verified(raw: bytes, path: Path, keys: LogKeys) -> _Chain:
    """The chain of ``raw`` verified (``ApprovalLogError`` if it does not verify), going on
    from the last verified prefix of the same log under the same keys where there is one."""
    source = f"HITL approvals log {path}"
    cache_key = (path, keys.fingerprint())
    with _VERIFIED_LOCK:
        prefix, known = _VERIFIED.get(cache_key, (b"", _Chain()))
    if not raw.startswith(prefix):
        prefix, known = b"", _Chain()
    chain = known.copy()
    lines = raw[len(prefix) :].split(b"\n")
    if lines[-1] == b"":  # the usual trailing newline (or nothing new)
        lines.pop()
    first = len(chain.entries) + 1
    last = first + len(lines) - 1
    for number, line_bytes in enumerate(lines, first):
        chain.add(
            number,
            _decoded_line(line_bytes, f"{source}: line {number}", number == last),
            source,
            keys,
        )
    if raw.endswith(b"\n"):  # a prefix that ends mid-line cannot be gone on from
        with _VERIFIED_LOCK:
            _VERIFIED[cache_key] = (raw, chain.copy())
    return chain


def _decoded_line(line_bytes: bytes, where: str, last: bool) -> object:
    """One line's JSON value, decoded strictly; it must be in canonical form."""
    if not line_bytes.strip():
        raise ApprovalLogError(f"{where}: empty line")
    try:
        text = line_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApprovalLogError(f"{where}: not UTF-8 ({exc.reason})") from exc
    try:
        value = json.loads(
            text, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant
        )
    except ValueError as exc:  # JSONDecodeError is a ValueError
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        hint = " (truncated write?)" if last else ""
        raise ApprovalLogError(f"{where}: not valid JSON: {msg}{hint}") from exc
    if isinstance(value, dict) and _canonical(value) != text:
        # Whitespace, key order or escapes changed: the content may be the same, but a
        # line that is not byte-for-byte what we wrote has been touched.
        raise ApprovalLogError(f"{where}: not in canonical form (edited by hand?)")
    return value


def _build(
    path: Path, source: str, numbered: Sequence[tuple[int, object]], keys: LogKeys
) -> ApprovalLog:
    """Verify every entry in order and assemble the snapshot."""
    chain = _Chain()
    for number, value in numbered:
        chain.add(number, value, source, keys)
    return chain.snapshot(path, keys)


@dataclass
class _Chain:
    """A verification in progress: the entries verified so far and what they add up to.

    ``add`` verifies one more entry against the chain so far; a copy of a chain can go on
    from where the original stopped (:func:`_verified`), so an append verifies the new line,
    not the whole log again.
    """

    entries: list[Entry] = field(default_factory=list)
    approvals: list[Approval] = field(default_factory=list)
    uses: list[Use] = field(default_factory=list)
    escalations: list[Escalation] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    runs: list[RunRecord] = field(default_factory=list)
    by_id: dict[str, Approval] = field(default_factory=dict)
    head: str = GENESIS
    previous_mac: str = GENESIS

    def copy(self) -> _Chain:
        return _Chain(
            list(self.entries),
            list(self.approvals),
            list(self.uses),
            list(self.escalations),
            list(self.actions),
            list(self.runs),
            dict(self.by_id),
            self.head,
            self.previous_mac,
        )

    def add(self, number: int, value: object, source: str, keys: LogKeys) -> None:
        """Verify ``value`` (line ``number``) as the next entry; raise ``ApprovalLogError``."""
        index = len(self.entries)
        where = f"{source}: line {number}"
        entry = dict(_check_shape(value, where))  # a copy: the snapshot owns its entries
        if entry["seq"] != index:
            raise ApprovalLogError(
                f"{where}: seq is {entry['seq']}, expected {index}"
                " (line removed, inserted or reordered?)"
            )
        if entry["prev"] != self.head:
            expected = "64 zeros (first entry)" if index == 0 else f"the hash of line {number - 1}"
            raise ApprovalLogError(
                f"{where}: prev does not match {expected} (chain broken: an earlier line was"
                " changed, removed or replaced)"
            )
        if entry["hash"] != _entry_hash(entry):
            raise ApprovalLogError(
                f"{where}: hash does not match the entry's content (edited after writing?)"
            )
        self.previous_mac = _check_mac(entry, self.previous_mac, keys, where)
        at = _check_time(entry["at"], f"{where}: at")
        kind = entry["kind"]
        if kind == "approval":
            approval = _check_approval(entry, at, where)
            self.approvals.append(approval)
            self.by_id[approval.id] = approval
        elif kind == "use":
            target = self.by_id.get(entry["approval_id"])
            if target is None:
                raise ApprovalLogError(
                    f"{where}: approval_id {entry['approval_id'][:12]} is not an earlier"
                    " approval in this log"
                )
            if (entry["gate"], entry["env"]) != (target.gate, target.env):
                raise ApprovalLogError(
                    f"{where}: gate/env {entry['gate']}/{entry['env']} differ from approval"
                    f" {target.short_id} ({target.gate}/{target.env})"
                )
            if not entry["test_id"].strip():
                raise ApprovalLogError(f"{where}: test_id is empty")
            self.uses.append(
                Use(entry["hash"], index, target.id, entry["test_id"], target.gate, target.env, at)
            )
        elif kind == "action":
            self.actions.append(_check_action(entry, at, where))
        elif kind == "run":
            if not entry["run_id"].strip():
                raise ApprovalLogError(f"{where}: run_id is empty")
            self.runs.append(RunRecord(entry["hash"], index, entry["run_id"], entry["record"], at))
        else:
            if not _ESCALATION_KIND.fullmatch(entry["escalation"]):
                raise ApprovalLogError(f"{where}: escalation is not a snake_case word")
            if not entry["detail"].strip():
                raise ApprovalLogError(f"{where}: detail is empty")
            self.escalations.append(
                Escalation(entry["hash"], index, entry["escalation"], entry["detail"], at)
            )
        self.entries.append(entry)
        self.head = entry["hash"]

    def snapshot(self, path: Path, keys: LogKeys) -> ApprovalLog:
        return ApprovalLog(
            path=path,
            entries=tuple(self.entries),
            approvals=tuple(self.approvals),
            uses=tuple(self.uses),
            escalations=tuple(self.escalations),
            actions=tuple(self.actions),
            head=self.head,
            protection=keys.describe(),
            runs=tuple(self.runs),
        )


def _check_mac(entry: Entry, previous_mac: str, keys: LogKeys, where: str) -> str:
    """Verify the entry's link in the HMAC chain (keyed logs); the MAC to chain on to."""
    kid = entry.get("key_id")
    if kid is None:
        if keys.keyed:
            raise ApprovalLogError(
                f"{where}: no MAC, but {KEY_ENV} is set: the MAC was stripped, or the log was"
                " written without the key (a key starts a new log)"
            )
        return GENESIS
    if not keys.keyed:
        raise ApprovalLogError(
            f"{where}: the log is keyed (key id {kid}): set {KEY_ENV} to the key to read it"
        )
    if not keys.knows(kid):
        raise ApprovalLogError(
            f"{where}: written under key id {kid}, which is neither {KEY_ENV}"
            f" ({keys.current_id}) nor one of {PREVIOUS_KEYS_ENV}"
        )
    body = {key: value for key, value in entry.items() if key != "mac"}
    if not hmac.compare_digest(entry["mac"], keys.mac(kid, previous_mac, _canonical(body))):
        raise ApprovalLogError(
            f"{where}: MAC does not match (edited and rehashed without the key, an earlier"
            " line changed, or another key)"
        )
    return str(entry["mac"])


def _check_action(entry: Entry, at: datetime, where: str) -> Action:
    for name, choices in (("app", APP_IDS), ("env", ENVS)):
        if entry[name] not in choices:
            raise ApprovalLogError(
                f"{where}: unknown {name} {entry[name]!r} (valid: {', '.join(choices)})"
            )
    for name in ("who", "what"):
        if not entry[name].strip():
            raise ApprovalLogError(f"{where}: {name} is empty")
    return Action(
        entry["hash"], entry["seq"], entry["who"], entry["what"], entry["app"], entry["env"], at
    )


def _check_shape(value: object, where: str) -> Entry:
    """Exact field set and types, so nothing unverified can ride along in an entry."""
    if not isinstance(value, dict):
        raise ApprovalLogError(f"{where}: expected a JSON object, got {type(value).__name__}")
    kind = value.get("kind")
    if not isinstance(kind, str) or kind not in _KIND_FIELDS:
        raise ApprovalLogError(
            f"{where}: kind must be one of {', '.join(_KIND_FIELDS)}, got {kind!r}"
        )
    expected = set(_COMMON_FIELDS) | set(_KIND_FIELDS[kind])
    if value.keys() & set(_MAC_FIELDS):
        expected |= set(_MAC_FIELDS)
    missing = sorted(expected - value.keys())
    if missing:
        raise ApprovalLogError(f"{where}: missing field(s): {', '.join(missing)}")
    extra = sorted(value.keys() - expected)
    if extra:
        raise ApprovalLogError(f"{where}: unexpected field(s): {', '.join(extra)}")
    if type(value["seq"]) is not int:  # bool is an int subclass; reject it too
        raise ApprovalLogError(f"{where}: seq must be an integer")
    for key in sorted(expected - {"seq"}):
        wanted = dict if key in _OBJECT_FIELDS else str
        if not isinstance(value[key], wanted):
            kind_of = "an object" if wanted is dict else "a string"
            raise ApprovalLogError(f"{where}: {key} must be {kind_of}")
    for key in ("prev", "hash", "mac", "approval_id"):
        if key in value and not _HEX64.fullmatch(value[key]):
            raise ApprovalLogError(f"{where}: {key} must be 64 lowercase hex digits")
    if "key_id" in value and not _KEY_ID.fullmatch(value["key_id"]):
        raise ApprovalLogError(f"{where}: key_id must be {KEY_ID_HEX} lowercase hex digits")
    return value


def _check_approval(entry: Entry, at: datetime, where: str) -> Approval:
    for name, choices in (("gate", GATES), ("env", ENVS)):
        if entry[name] not in choices:
            raise ApprovalLogError(
                f"{where}: unknown {name} {entry[name]!r} (valid: {', '.join(choices)})"
            )
    for name in ("who", "reason"):
        if not entry[name].strip():
            raise ApprovalLogError(f"{where}: {name} is empty")
    expires_at = _check_time(entry["expires_at"], f"{where}: expires_at")
    if expires_at <= at:
        raise ApprovalLogError(f"{where}: expires_at is not after the approval time")
    return Approval(
        id=entry["hash"],
        seq=entry["seq"],
        who=entry["who"],
        gate=entry["gate"],
        env=entry["env"],
        reason=entry["reason"],
        approved_at=at,
        expires_at=expires_at,
    )


def _check_time(text: str, where: str) -> datetime:
    """Timestamps must be exactly what ``utc_iso`` writes (RFC 3339 UTC, ``Z``)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or utc_iso(moment) != text:
        raise ApprovalLogError(
            f"{where} is {text!r}, not an RFC 3339 UTC time like 2026-01-01T00:00:00Z"
        )
    return moment


# --- input validation (ValueError: the caller passed something wrong) -------------------


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r} (valid: {', '.join(choices)})")


def _check_aware(name: str, moment: datetime) -> None:
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def _check_unicode(name: str, value: str) -> None:
    # Lone surrogates (e.g. from undecodable argv bytes) cannot be written as UTF-8.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{name} is not valid Unicode text") from exc


def _check_nonempty(name: str, value: str) -> None:
    """A non-empty string that can be written as UTF-8 (free text may span lines)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string")
    _check_unicode(name, value)


def _check_text(name: str, value: str) -> None:
    """One line of human-typed text: non-empty and free of control characters.

    Control characters would let a ``reason`` rewrite the terminal when ``list`` shows it.
    """
    _check_nonempty(name, value)
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise ValueError(f"{name} must be one line without control characters")


def _check_escalation_kind(kind: str) -> None:
    if not isinstance(kind, str) or not _ESCALATION_KIND.fullmatch(kind):
        raise ValueError(
            f"escalation kind must be a snake_case word like 'stripe_live_failure', got {kind!r}"
        )
