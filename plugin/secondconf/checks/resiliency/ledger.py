"""The faults a drill has injected and not yet seen undone, kept on disk.

A drill writes its fault here *before* injecting it and removes it only once the app is
seen healthy again. A run that is interrupted in between (Ctrl-C, a killed xdist worker,
a rollback that did not take) leaves the entry behind, and the next run's drills clear
it before their first fault (Chaos Toolkit's default skips rollbacks on an interrupted
run; this is its ``always``, carried over to the next run). The file sits beside the
HITL log (``<log>.drills.json``), so it survives the previous-run move of the reports
folder like the log does. Writes are atomic, under a lock beside it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from secondconf.core.files import write_atomic

LEDGER_SUFFIX: Final = ".drills.json"


@dataclass(frozen=True)
class PendingFault:
    """One injected fault: where (``app_id`` at ``base_url``), what, and by whom."""

    app_id: str
    kind: str
    base_url: str
    test_id: str
    pid: int
    injected_at: str

    @property
    def owner_alive(self) -> bool:
        """The process that injected it still runs (its drill may be under way)."""
        if self.pid == os.getpid():
            return False  # this process holds no drill across runs: any entry is a leftover
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


class LedgerError(Exception):
    """The ledger file cannot be read (one line naming it)."""


@dataclass(frozen=True)
class FaultLedger:
    path: Path

    @classmethod
    def beside(cls, hitl_log: Path) -> FaultLedger:
        return cls(hitl_log.with_name(hitl_log.name + LEDGER_SUFFIX))

    def pending(self) -> list[PendingFault]:
        try:
            raw = self.path.read_text()
        except FileNotFoundError:
            return []
        try:
            return [PendingFault(**entry) for entry in json.loads(raw)]
        except (ValueError, TypeError) as error:
            raise LedgerError(f"drill ledger {self.path}: unreadable ({error})") from None

    def add(self, fault: PendingFault) -> None:
        with self._locked():
            self._write([*self.pending(), fault])

    def remove(self, fault: PendingFault) -> None:
        with self._locked():
            self._write([f for f in self.pending() if f != fault])

    def _write(self, faults: list[PendingFault]) -> None:
        write_atomic(self.path, json.dumps([asdict(f) for f in faults], indent=1) + "\n")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
