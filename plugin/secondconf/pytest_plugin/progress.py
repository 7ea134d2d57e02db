"""Progress lines of long phases on the terminal: at least every 10 s, quiet under ``-q``.

The line is written to the process's own stderr with pytest's capture suspended, so it
shows in a plain run and from an xdist worker alike (a worker's stderr is the
controller's terminal; its terminal reporter is not), prefixed with the worker's id.
"""

from __future__ import annotations

import sys

import pytest

from secondconf.core.clock import Clock
from secondconf.core.progress import ProgressThrottle


def terminal_progress(config: pytest.Config, clock: Clock) -> ProgressThrottle | None:
    """A throttle that prints to the terminal, or None when the run is quiet (``-q``)."""
    if config.get_verbosity() < 0:
        return None
    workerinput = getattr(config, "workerinput", None)
    prefix = f"[{workerinput['workerid']}] " if workerinput else ""
    capture = config.pluginmanager.getplugin("capturemanager")

    def emit(line: str) -> None:
        if capture is None:
            _write(prefix + line)
            return
        with capture.global_and_fixture_disabled():
            _write(prefix + line)

    return ProgressThrottle(emit, clock.monotonic)


def _write(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
