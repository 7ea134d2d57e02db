"""The versions every verdict depends on, recorded beside it."""

from __future__ import annotations

import platform
from importlib import metadata

_VERSIONED = ("secondconf", "pytest", "pytest-xdist", "scipy", "numpy", "httpx")


def library_versions() -> dict[str, str]:
    """The versions every verdict depends on, recorded beside it."""
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
