"""What one logged action costs as the HITL approvals log grows (the drills log each fault).

    .venv/bin/python perf/bench_hitl_append.py [--entries 2000] [--actions 20]

Writes a log of ``--entries`` actions in a temporary folder, then times ``--actions`` more
``record_action`` calls two ways in one run: verifying the whole log again before and after
each append (as every append did before the verified prefix was kept), and going on from
the verified prefix (what the harness does). Prints wall and CPU milliseconds per action
and their ratio. The CPU is the point: the drills log from a worker thread, and every
millisecond of it holds the GIL the prober's event loop needs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from secondconf.core.clock import SystemClock
from secondconf.hitl import log as hitl_log
from secondconf.hitl.keys import LogKeys

KEYS = LogKeys()  # unkeyed: a keyed log adds one HMAC per line to both ways alike


def _act(path: Path, what: str) -> None:
    hitl_log.record_action(
        path, what=what, app="A2", env="embedded", clock=SystemClock(), keys=KEYS
    )


def per_action_ms(path: Path, actions: int, *, whole_log: bool) -> tuple[float, float]:
    """Wall and CPU milliseconds per appended action."""
    wall, cpu = time.perf_counter(), time.process_time()
    for number in range(actions):
        if whole_log:
            hitl_log._VERIFIED.clear()  # forget the verified prefix: the old way
        _act(path, f"bench action {number}")
    return (
        (time.perf_counter() - wall) / actions * 1000,
        (time.process_time() - cpu) / actions * 1000,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--actions", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "hitl_approvals.log"
        for number in range(args.entries):
            _act(path, f"earlier action {number}")
        whole = per_action_ms(path, args.actions, whole_log=True)
        _act(path, "verify once")
        prefix = per_action_ms(path, args.actions, whole_log=False)
    print(f"log of {args.entries} entries, {args.actions} actions each way")
    print(f"whole log verified again: {whole[0]:.1f} ms wall, {whole[1]:.1f} ms CPU per action")
    print(f"verified prefix kept:     {prefix[0]:.1f} ms wall, {prefix[1]:.1f} ms CPU per action")
    print(f"CPU ratio (whole / prefix): {whole[1] / prefix[1]:.1f}")


if __name__ == "__main__":
    main()
