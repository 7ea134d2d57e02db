"""The running embedded ecosystem, one per test session, shared by every xdist worker.

``shared_ecosystem`` starts it in the first worker that asks and stops it when the last
one is done; the lock directory sits next to the workers' temp dirs, which pytest-xdist
gives a common parent. Only tests that request ``ecosystem`` start anything.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from reftarget.launch.supervisor import RemoteEcosystem, shared_ecosystem


def shared_lock_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory every worker of this session agrees on."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    return base / "reftarget-ecosystem"


@pytest.fixture(scope="session")
def ecosystem(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteEcosystem]:
    with shared_ecosystem(shared_lock_dir(tmp_path_factory)) as eco:
        yield eco
