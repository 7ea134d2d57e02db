"""Process drills on a target the harness runs itself.

Contract §9: process control (stop, kill, restart, cold start) belongs to whoever runs the
ecosystem. For the embedded default that is the harness, through the reference target's
launcher, which satisfies this Protocol; a deployment named by a system map offers none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class ProcessControl(Protocol):
    """The processes of a target the harness started."""

    @property
    def state_dir(self) -> Path:
        """Where the target keeps its state and logs."""
        ...

    def stop(self, app_id: str) -> None: ...

    def kill(self, app_id: str) -> None: ...

    def start(self, app_id: str) -> None: ...

    def restart(self, app_id: str) -> None: ...

    def cold_start(self, app_id: str, warmup_s: float = ...) -> None: ...
