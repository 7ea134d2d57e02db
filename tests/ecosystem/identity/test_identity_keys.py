"""KeyStore on its own: persistence across restarts and the rotation bookkeeping."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

from reftarget.identity.keys import KeyStore


def test_keys_survive_a_restart(tmp_path: Path) -> None:
    first = KeyStore(tmp_path / "a1.sqlite3")
    first.rotate()

    reopened = KeyStore(tmp_path / "a1.sqlite3")

    assert reopened.current().kid == first.current().kid
    assert reopened.jwks() == first.jwks()


def test_rotate_signs_with_the_new_key_and_publishes_both_newest_first(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "a1.sqlite3")
    old = store.current().kid

    new = store.rotate()

    assert store.current().kid == new
    assert [jwk["kid"] for jwk in store.jwks()["keys"]] == [new, old]


def test_the_database_is_wal_and_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "a1.sqlite3"
    KeyStore(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
