"""Phase 2 end to end: locust really runs, in its own process, against the reference target.

One run with 5 % injected 503s on A2 shows both sides at once: A2's endpoints FAIL the
error-rate verdict while every other app's PASS. While it runs, a watcher reads the locust
process's sockets from /proc: it listens on nothing outside loopback and talks only to it.
"""

from __future__ import annotations

import ipaddress
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from secondconf.checks.load import locust
from secondconf.checks.load.baseline import (
    BaselineResult,
    LoadApprovalRequired,
    expected_endpoints,
    run_baseline,
)
from secondconf.checks.load.locust import baseline_locustfile, locust_bin
from secondconf.engine.verdict import Outcome

from tests.harness.conftest import HarnessTarget

pytestmark = [
    pytest.mark.serial,  # timing-sensitive: runs alone, not beside other tests
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]

FAULTED = "A2"
USERS = 20
DURATION_S = 45.0  # at 12/s per user about 500 requests per endpoint; a PASS needs 381
RATE_PER_USER = 12.0
PROJECT_ROOT = Path(__file__).resolve().parents[2]
_TCP_STATES = {"0A": "LISTEN", "01": "ESTABLISHED"}


def _address(hex_addr: str) -> str:
    raw = bytes.fromhex(hex_addr)
    # /proc/net prints each 32-bit word in host (little-endian) order
    fixed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.ip_address(fixed)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


def _sockets_of(pid: int) -> list[tuple[str, str, str, str]]:
    """``(proto, state, local, remote)`` of every inet socket the process holds."""
    inodes: set[str] = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in list(fd_dir.iterdir()):
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    found = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        lines = Path(f"/proc/{pid}/net/{proto}").read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            if fields[9] in inodes:
                local, remote = (f.rsplit(":", 1)[0] for f in fields[1:3])
                state = _TCP_STATES.get(fields[3], fields[3])
                found.append((proto, state, _address(local), _address(remote)))
    return found


class SocketWatcher(threading.Thread):
    """Samples the sockets of this process's locust children until stopped."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.seen: set[tuple[str, str, str, str]] = set()
        self.pids: set[int] = set()
        self.halt = threading.Event()

    def _locust_children(self) -> Iterator[int]:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmdline = (entry / "cmdline").read_bytes()
            except (OSError, IndexError, ValueError):
                continue
            if ppid == os.getpid() and b"locustfile_baseline" in cmdline:
                yield int(entry.name)

    def run(self) -> None:
        while not self.halt.wait(0.25):
            for pid in self._locust_children():
                self.pids.add(pid)
                try:
                    self.seen.update(_sockets_of(pid))
                except OSError:
                    continue  # it just ended


@pytest.fixture(scope="module")
def watched_run(
    harness_target: HarnessTarget, tmp_path_factory: pytest.TempPathFactory
) -> tuple[BaselineResult, SocketWatcher]:
    harness_target.set_faults(FAULTED, {"error_503_fraction": 0.05})
    watcher = SocketWatcher()
    watcher.start()
    try:
        result = run_baseline(
            harness_target.eco.system_map_path,
            users=USERS,
            spawn_rate=USERS,
            duration_s=DURATION_S,
            rate_per_user=RATE_PER_USER,
            locust_bin=locust_bin(PROJECT_ROOT),
            locustfile=baseline_locustfile(PROJECT_ROOT),
            out_dir=tmp_path_factory.mktemp("baseline"),
        )
    finally:
        watcher.halt.set()
        watcher.join()
        harness_target.set_faults(FAULTED, {"error_503_fraction": 0})
    return result, watcher


def test_locust_runs_apart_and_every_endpoint_parses(
    watched_run: tuple[BaselineResult, SocketWatcher], harness_target: HarnessTarget
) -> None:
    result, watcher = watched_run
    assert watcher.pids, "no locust child process was seen"
    assert os.getpid() not in watcher.pids
    assert "locust" not in sys.modules  # never imported into the pytest process
    assert result.run.locust_exit_code == 1  # A2's 503s are failed requests
    names = expected_endpoints(harness_target.map)
    assert len(names) == 18
    assert set(result.endpoints) == set(names)
    for name in names:
        stats = result.endpoints[name]
        assert stats.num_requests > 0
        assert stats.timed + stats.num_none_requests == stats.num_requests
        error, latency = result.for_endpoint(name)
        assert error.details["p95_ms"] == stats.percentile(0.95)
        assert latency.n == stats.timed
        assert latency.outcome in set(Outcome)


def test_injected_503s_fail_that_app_and_no_other(
    watched_run: tuple[BaselineResult, SocketWatcher],
) -> None:
    result, _ = watched_run
    for name, (error, _latency) in result.verdicts.items():
        if name.startswith(f"{FAULTED} "):
            assert error.outcome is Outcome.FAIL, error.summary()
            assert error.estimate is not None
            assert 0.02 < error.estimate < 0.09
        else:
            assert error.outcome is Outcome.PASS, error.summary()
            assert error.k == 0


def test_locust_listens_on_and_talks_to_loopback_only(
    watched_run: tuple[BaselineResult, SocketWatcher],
) -> None:
    _, watcher = watched_run
    connections = [s for s in watcher.seen if s[1] == "ESTABLISHED"]
    assert connections, "the watcher saw no connection of the locust process"
    for proto, state, local, remote in watcher.seen:
        where = (proto, state, local, remote)
        assert ipaddress.ip_address(local).is_loopback, where
        if state == "ESTABLISHED":
            assert ipaddress.ip_address(remote).is_loopback, where


def test_more_than_60_users_is_refused_before_any_process_starts(
    harness_target: HarnessTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = tmp_path / "started"
    fake = tmp_path / "locust"
    fake.write_text(f"#!/bin/sh\ntouch {started}\n")
    fake.chmod(0o755)

    def no_process(*args: object, **kwargs: object) -> None:
        raise AssertionError("a process was started")

    monkeypatch.setattr(locust.subprocess, "run", no_process)
    monkeypatch.setattr(locust.subprocess, "Popen", no_process)
    before = time.monotonic()
    with pytest.raises(LoadApprovalRequired, match="load_over_60_vus"):
        run_baseline(
            harness_target.eco.system_map_path,
            users=61,
            spawn_rate=10,
            duration_s=5,
            locust_bin=fake,
            locustfile=baseline_locustfile(PROJECT_ROOT),
            out_dir=tmp_path / "out",
        )
    assert time.monotonic() - before < 1.0
    assert not started.exists()
    assert not (tmp_path / "out").exists()
