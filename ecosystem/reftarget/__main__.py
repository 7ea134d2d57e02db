"""``python -m reftarget [--state-dir DIR]``: run the embedded ecosystem until Ctrl-C.

Prints where the system map is and which environment variables to export; their values
are in ``<state>/secrets.env`` (mode 0600) and are never printed. With ``--lease DIR`` it
is the supervisor of a shared ecosystem (see ``reftarget.launch.supervisor``): it also serves
control commands and stops when no lease holder is alive any more.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from reftarget.core.settings import SECRET_ENV_VARS
from reftarget.launch.ecosystem import Ecosystem
from reftarget.launch.lease import lease_has_holders
from reftarget.launch.secrets import SECRETS_FILE
from reftarget.launch.supervisor import mark_supervisor_ready, serve_control

LEASE_CHECK_INTERVAL_S = 1.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reftarget", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=None, help="default: a temporary dir")
    parser.add_argument("--env", default="embedded", help="the system map's env (embedded)")
    parser.add_argument("--lease", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    args = parser.parse_args(argv)

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    with Ecosystem(args.state_dir, env=args.env) as eco:
        if not args.quiet:
            print(f"system map: {eco.system_map_path}")
            print(f"secrets:    {eco.state_dir / SECRETS_FILE} (mode 0600; values not shown)")
            print(f"export:     {' '.join(SECRET_ENV_VARS)}")
            print(f"            e.g.  set -a; . {eco.state_dir / SECRETS_FILE}; set +a")
            print("running; Ctrl-C stops everything", flush=True)
        if args.lease is None:
            stop.wait()
            return 0
        control = serve_control(eco)
        mark_supervisor_ready(eco.state_dir)
        try:
            while not stop.wait(LEASE_CHECK_INTERVAL_S):
                if not lease_has_holders(args.lease):
                    break
        finally:
            control.shutdown()
            control.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
