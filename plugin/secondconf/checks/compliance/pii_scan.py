"""PII minimization (contract §14): search A8's events and the run's files for PII.

What counts as PII is :mod:`secondconf.checks.compliance.pii`'s (canaries and patterns).
A finding names the file or the event, the field (a JSON path where the text is JSON,
else the line) and the kind of PII; never the value, so the scan's own report cannot
leak what it found.

Files are walked as the secret scan walks them (:func:`secondconf.core.walk.scannable_files`):
a binary file (a NUL byte in its first 8 KiB: screenshots, archives) cannot be read for
text and is listed as not scanned, with that reason, like a file over the size limit.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from secondconf.checks.compliance.pii import Canaries, find_pii
from secondconf.core.walk import scannable_files

DEFAULT_MAX_FILE_BYTES: Final = 64 * 1024 * 1024
BINARY_SNIFF_BYTES: Final = 8192


@dataclass(frozen=True)
class PiiFinding:
    """PII in an output: where (file or event), which field or line, what kind."""

    where: str
    field: str
    kind: str

    def describe(self) -> str:
        return f"{self.where}: {self.field}: {self.kind}"


@dataclass
class PiiScan:
    """What a PII scan found, and what it could not read."""

    findings: list[PiiFinding] = field(default_factory=list)
    files_scanned: int = 0
    events_scanned: int = 0
    texts_scanned: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    canaries_searched: bool = False

    @property
    def passed(self) -> bool:
        return not self.findings

    @property
    def cases(self) -> int:
        return self.files_scanned + self.events_scanned + len(self.texts_scanned)

    def violations(self) -> list[str]:
        return [finding.describe() for finding in self.findings]

    def summary_lines(self) -> list[str]:
        """For the terminal summary: the verdict, then each finding and each gap."""
        scanned = " and ".join([*self.texts_scanned, f"{self.files_scanned} file(s)"])
        if self.findings:
            head = f"PII LEAK: {len(self.findings)} finding(s) in {scanned}"
        else:
            head = f"PII scan clean: {scanned}"
        return [head, *(f"  {line}" for line in self.violations() + self.skipped)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "files_scanned": self.files_scanned,
            "events_scanned": self.events_scanned,
            "texts_scanned": list(self.texts_scanned),
            "canaries_searched": self.canaries_searched,
            "findings": self.violations(),
            "not_scanned": list(self.skipped),
        }


def scan_text(where: str, text: str, canaries: Canaries | None = None) -> list[PiiFinding]:
    """PII in ``text``: by JSON path when it is a JSON document, else by line."""
    try:
        document = json.loads(text)
    except ValueError:
        return _by_line(where, text, canaries)
    if not isinstance(document, dict | list):
        return _by_line(where, text, canaries)
    return scan_json(where, document, canaries)


Segment = str | int
JsonPath = tuple[Segment, ...]
MASKED_KEY: Final = "<a key holding PII>"


def scan_json(where: str, document: Any, canaries: Canaries | None = None) -> list[PiiFinding]:
    """PII in every key and string (and long integer) of a JSON document, by its path.

    The strings are searched as one text, one per line (no pattern spans a line break),
    so a report of thousands of short strings costs a few regex passes, not thousands. A
    key that holds PII is named by its place, never spelled out, in every path.
    """
    items = list(_json_strings(document, ()))
    starts: list[int] = []
    offset = 0
    for _, _, text in items:
        starts.append(offset)
        offset += len(text) + 1
    hits: dict[tuple[int, str], None] = {}
    for hit in find_pii("\n".join(text for _, _, text in items), canaries):
        hits[(bisect.bisect_right(starts, hit.offset) - 1, hit.kind)] = None
    tainted = {items[index][0] for index, _ in hits if items[index][1]}
    return [
        PiiFinding(where, _render(items[index][0], tainted, is_key=items[index][1]), kind)
        for index, kind in hits
    ]


def _json_strings(value: Any, path: JsonPath) -> Iterator[tuple[JsonPath, bool, str]]:
    """(path, whether it is a key, text) of every key, string and long integer."""
    if isinstance(value, dict):
        for key, item in value.items():
            child = (*path, str(key))
            yield child, True, str(key)
            yield from _json_strings(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_strings(item, (*path, index))
    elif isinstance(value, str):
        yield path, False, value
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**7:
        yield path, False, str(value)  # a number long enough to be a card or phone number


def _render(path: JsonPath, tainted: set[JsonPath], *, is_key: bool) -> str:
    text = ""
    for depth, segment in enumerate(path):
        if isinstance(segment, int):
            text += f"[{segment}]"
        else:
            name = MASKED_KEY if path[: depth + 1] in tainted else segment
            text += f".{name}" if text else name
    return (text or "(document)") + (" (key)" if is_key else "")


def _by_line(where: str, text: str, canaries: Canaries | None) -> list[PiiFinding]:
    newlines = [i for i, char in enumerate(text) if char == "\n"]
    seen: dict[tuple[int, str], None] = {}
    for hit in find_pii(text, canaries):
        seen[(bisect.bisect_left(newlines, hit.offset) + 1, hit.kind)] = None
    return [PiiFinding(where, f"line {line}", kind) for line, kind in seen]


def scan_events(
    events: Iterable[Mapping[str, Any]], canaries: Canaries | None, scan: PiiScan
) -> None:
    """Add the PII of each stored event (as A8 answered it) to ``scan``."""
    for event in events:
        where = (
            f"A8 event {event.get('event')} from {event.get('app_id')} "
            f"(trace {event.get('trace_id')}, event_id {event.get('event_id')})"
        )
        scan.findings.extend(scan_json(where, dict(event), canaries))
        scan.events_scanned += 1
    if canaries is not None:
        scan.canaries_searched = True


def scan_files(
    paths: Sequence[Path],
    canaries: Canaries | None = None,
    *,
    texts: Mapping[str, str] | None = None,
    scan: PiiScan | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> PiiScan:
    """Search every file under ``paths`` and ``texts`` (label -> text that is no file).

    A path that does not exist is skipped silently (nothing was written there); a file
    reached twice is scanned once.
    """
    scan = PiiScan() if scan is None else scan
    if canaries is not None:
        scan.canaries_searched = True
    seen: set[Path] = set()
    for root in paths:
        for path, problem in scannable_files(Path(root), max_file_bytes):
            if path in seen or problem == "missing":
                continue
            seen.add(path)
            if problem is not None:
                scan.skipped.append(f"{path}: not scanned ({problem})")
                continue
            try:
                data = path.read_bytes()
            except OSError as error:
                scan.skipped.append(f"{path}: not scanned (unreadable: {error.strerror})")
                continue
            if b"\0" in data[:BINARY_SNIFF_BYTES]:
                scan.skipped.append(f"{path}: not scanned (binary)")
                continue
            scan.findings.extend(scan_text(str(path), data.decode("utf-8", "replace"), canaries))
            scan.files_scanned += 1
    for label, text in (texts or {}).items():
        scan.findings.extend(scan_text(label, text, canaries))
        scan.texts_scanned.append(label)
    return scan
