"""Waiting, bounded, for A8 to hold the events of the traces a check caused.

A check names, per trace id it chose, the events A8 must come to hold; this polls A8 until
every one is there or the deadline passes, then reads every trace once more, so events the
check did not expect (an activation that fired twice) are in the answer too. An event
that must *not* arrive is judged against one that must, in the same trace and app: an
app's telemetry reaches A8 in the order it was emitted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from typing import Final

from secondconf.core.clock import Clock
from secondconf.target.a8 import A8Client, StoredEvent

POLL_S: Final = 0.25


async def wait_for_trace_events(
    a8: A8Client,
    expected: Mapping[str, Collection[str]],
    clock: Clock,
    deadline_s: float,
) -> dict[str, list[StoredEvent]]:
    """Every trace's stored events once each holds its ``expected`` names (or at the
    deadline). Raises :class:`~secondconf.target.a8.TelemetryError` if A8 cannot be read."""
    deadline = clock.monotonic() + deadline_s
    waiting = {trace: set(names) for trace, names in expected.items() if names}
    while waiting:
        for trace in list(waiting):
            held = {e.event for e in await a8.events(trace_id=trace)}
            if waiting[trace] <= held:
                del waiting[trace]
        if not waiting or clock.monotonic() >= deadline:
            break
        await asyncio.sleep(POLL_S)
    return {trace: await a8.events(trace_id=trace) for trace in expected}
