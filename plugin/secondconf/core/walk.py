"""The files under a folder that an output scan can read, each with why it cannot.

Both scans of a run's outputs (secret values, PII) walk the same way: regular files
only, symlinks not followed, files over a size limit and folders that cannot be listed
named with the reason, so a clean scan can say what it did not look at.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path


def scannable_files(root: Path, max_file_bytes: int) -> Iterable[tuple[Path, str | None]]:
    """Each file under ``root`` with the reason it cannot be scanned (``None``: it can;
    ``"missing"``: ``root`` does not exist)."""
    try:
        info = root.lstat()
    except FileNotFoundError:
        yield root, "missing"
        return
    except OSError as error:
        yield root, f"unreadable: {error.strerror}"
        return
    if stat.S_ISDIR(info.st_mode):
        errors: list[OSError] = []  # a folder os.walk cannot list is a gap, not silence
        for folder, dirs, names in os.walk(root, onerror=errors.append, followlinks=False):
            dirs.sort()
            for name in sorted(names) + [d for d in dirs if Path(folder, d).is_symlink()]:
                yield from scannable_files(Path(folder, name), max_file_bytes)
        for failed in errors:
            yield Path(str(failed.filename)), f"folder unreadable: {failed.strerror}"
        return
    if stat.S_ISLNK(info.st_mode):
        yield root, "symlink, not followed"
    elif not stat.S_ISREG(info.st_mode):
        yield root, "not a regular file"
    elif info.st_size > max_file_bytes:
        yield root, f"{info.st_size} bytes, over the {max_file_bytes}-byte limit"
    else:
        yield root, None
