"""Fixtures of the app tests: a ``Target`` per worker, a readers-writer lock, B2C walks.

Faults, restarts and key rotations change the one shared ecosystem for everybody, so a
test that does any of them is marked ``exclusive`` and holds the lock alone; every other
test holds it shared. A turnstile keeps the writers from starving (fcntl locks are not fair).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from pathlib import Path

import pytest
from reftarget.launch.supervisor import RemoteEcosystem

from tests.ecosystem.apps.b2c import Journey, Walk, delete_identity
from tests.ecosystem.apps.target import Target
from tests.ecosystem.conftest import shared_lock_dir


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "exclusive: changes the shared ecosystem (faults, restarts); runs alone"
    )


@pytest.fixture(scope="session")
def target(ecosystem: RemoteEcosystem) -> Iterator[Target]:
    client = Target(ecosystem)
    yield client
    client.close()


@pytest.fixture(scope="session")
def lock_paths(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = shared_lock_dir(tmp_path_factory)
    directory.mkdir(parents=True, exist_ok=True)
    return directory / "tests.turnstile", directory / "tests.rwlock"


@pytest.fixture(autouse=True)
def _share_the_ecosystem(
    request: pytest.FixtureRequest, target: Target, lock_paths: tuple[Path, Path]
) -> Iterator[None]:
    turnstile_path, lock_path = lock_paths
    exclusive = request.node.get_closest_marker("exclusive") is not None
    with open(turnstile_path, "a") as turnstile, open(lock_path, "a") as lock:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        if exclusive:
            fcntl.flock(lock, fcntl.LOCK_EX)
        fcntl.flock(turnstile, fcntl.LOCK_UN)
        if not exclusive:
            fcntl.flock(lock, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture
def walk(target: Target) -> Iterator[Walk]:
    """Journeys as ``test_student_e2e_NN`` (fresh: deleted before and after the test)."""
    walks: list[Journey] = []

    def start(number: int) -> Journey:
        username = f"test_student_e2e_{number:02d}"
        delete_identity(target, username)
        walks.append(Journey(target, username))
        return walks[-1]

    yield start
    for journey in walks:
        journey.close()
        assert delete_identity(target, journey.username).status_code == 204
