"""The launcher: stop/start of one app, and a failed start that leaves nothing behind."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from reftarget.launch.ecosystem import Ecosystem, EcosystemStartError

from tests.ecosystem.apps.target import Target, eventually


@pytest.mark.exclusive
def test_a_stopped_app_refuses_connections_and_comes_back_ready(target: Target) -> None:
    target.eco.stop("A6")
    with pytest.raises(httpx.ConnectError):
        target.get("A6", "/health")
    target.eco.start("A6")
    assert target.get("A6", "/ready").status_code == 200


def test_a_start_that_fails_names_what_is_missing_and_leaves_no_process(tmp_path: Path) -> None:
    eco = Ecosystem(tmp_path / "eco", start_timeout_s=0.05)
    with pytest.raises(EcosystemStartError, match="Stripe server did not come up"):
        eco.start_all()
    pids = list(eco.process_ids().values())
    assert len(pids) == 9

    def all_gone() -> bool:
        for pid in pids:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            return False
        return True

    assert eventually(all_gone, 5.0)
