"""The run's outputs: which files this run wrote, and moving the previous run's aside.

Runs share their output folders (``--reports-dir``, ``--evidence-dir``), so a report an
earlier run left could be read as this run's. Two things prevent it:

* the manifest: when the run starts, the controller records every file already in those
  folders (:func:`snapshot`); at its end, the files that are new or rewritten since are
  this run's outputs (:func:`written_since`), listed with the run id in
  ``secondconf_results.json``;
* the hand-over: when the next run with checks starts, the outputs listed by the results
  file it finds (and that file) are moved into ``<reports_dir>/previous-run/``
  (:func:`move_previous_run`), which is emptied first: one previous run is kept.

The HITL approvals log (and its lock file) belongs to no run: it is never listed, moved
or removed, even when it lives in the reports folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from secondconf.settings import HarnessSettings

PREVIOUS_RUN_DIR: Final = "previous-run"

FileState = tuple[int, int, int]  # (inode, mtime_ns, size): a rewrite changes at least one


@dataclass(frozen=True)
class PreviousRun:
    """What :func:`move_previous_run` moved: the earlier run's id (``None`` when its
    results file did not say) and where its outputs now are."""

    run_id: str | None
    folder: Path
    moved: tuple[Path, ...]

    def to_dict(self) -> dict[str, object]:
        return {"run_id": self.run_id, "folder": str(self.folder), "moved": len(self.moved)}


def _labelled_folders(settings: HarnessSettings) -> list[tuple[str, Path]]:
    """The output folders with their name under ``previous-run/``, innermost first (the
    evidence folder may sit inside the reports folder)."""
    folders = [("reports", settings.reports_dir), ("evidence", settings.evidence_dir)]
    return sorted(folders, key=lambda item: len(item[1].parts), reverse=True)


def belongs_to_no_run(path: Path, settings: HarnessSettings) -> bool:
    """The HITL approvals log and its sibling files (its lock), and hidden files (an
    atomic write's temp file)."""
    log = settings.hitl_log
    same_log = path.parent == log.parent and path.name.startswith(log.name)
    return same_log or path.name.startswith(".")


def _files(settings: HarnessSettings) -> Iterator[Path]:
    previous = settings.reports_dir / PREVIOUS_RUN_DIR
    for _, folder in _labelled_folders(settings):
        for root, dirs, names in os.walk(folder):
            if Path(root) == settings.reports_dir and PREVIOUS_RUN_DIR in dirs:
                dirs.remove(PREVIOUS_RUN_DIR)
            for name in names:
                path = Path(root, name)
                if not belongs_to_no_run(path, settings) and previous not in path.parents:
                    yield path


def snapshot(settings: HarnessSettings) -> dict[str, FileState]:
    """Every regular file in the output folders, path -> its :data:`FileState`."""
    states: dict[str, FileState] = {}
    for path in _files(settings):
        with contextlib.suppress(FileNotFoundError):  # removed while we looked
            info = path.lstat()
            if path.is_file() and not path.is_symlink():
                states[str(path)] = (info.st_ino, info.st_mtime_ns, info.st_size)
    return states


def written_since(settings: HarnessSettings, before: Mapping[str, FileState]) -> list[Path]:
    """The files of the output folders that are new or rewritten since ``before``."""
    now = snapshot(settings)
    return sorted(Path(path) for path, state in now.items() if before.get(path) != state)


def move_previous_run(settings: HarnessSettings, results_file: str) -> PreviousRun | None:
    """Move the outputs listed by ``<reports_dir>/<results_file>`` (and that file) into
    ``previous-run/``, emptied first; ``None`` when there is no results file (no earlier
    run is known, or another process of this session has moved it already).

    Only files inside this run's output folders move, each to ``previous-run/reports/…``
    or ``previous-run/evidence/…`` by where it was, never the HITL log.
    """
    reports = settings.reports_dir
    if not reports.is_dir():
        return None
    with _folder_lock(reports):
        results = reports / results_file
        if not results.is_file():
            return None
        run_id, listed = _manifest(results)
        target = reports / PREVIOUS_RUN_DIR
        _empty(target, settings)
        moved: list[Path] = []
        for path in dict.fromkeys([results, *listed]):
            destination = _destination(path, settings, target)
            if destination is None or path.is_symlink() or not path.is_file():
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, destination)
            moved.append(destination)
        return PreviousRun(run_id, target, tuple(moved))


def _manifest(results: Path) -> tuple[str | None, list[Path]]:
    """The run id and listed outputs of a results file; none from one that is unreadable
    or older than the manifest (only the file itself then moves)."""
    try:
        data = json.loads(results.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None, []
    if not isinstance(data, dict):
        return None, []
    outputs = data.get("outputs")
    listed = [Path(p) for p in outputs if isinstance(p, str)] if isinstance(outputs, list) else []
    run_id = data.get("run_id")
    return (run_id if isinstance(run_id, str) and run_id else None), listed


def _destination(path: Path, settings: HarnessSettings, target: Path) -> Path | None:
    """Where ``path`` goes under ``target``; ``None`` for a path outside the output
    folders (a results file cannot make us move other files), inside ``target``, or one
    that belongs to no run."""
    if belongs_to_no_run(path, settings):
        return None
    resolved = path.resolve()
    if resolved.is_relative_to(target.resolve()):
        return None
    for label, folder in _labelled_folders(settings):
        if resolved.is_relative_to(folder.resolve()):
            return target / label / resolved.relative_to(folder.resolve())
    return None


def _empty(folder: Path, settings: HarnessSettings) -> None:
    """Remove what ``folder`` holds, except files that belong to no run."""
    for root, dirs, names in os.walk(folder, topdown=False):
        for name in names:
            path = Path(root, name)
            if not belongs_to_no_run(path, settings):
                path.unlink()
        for name in dirs:
            with contextlib.suppress(OSError):  # not empty: it holds the HITL log
                Path(root, name).rmdir()


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder`` itself: xdist workers each start the run, and
    only the first may move the previous run's outputs."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)
