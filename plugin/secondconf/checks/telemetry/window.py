"""The events A8 holds in a window of time, read whole, and the problems found in them.

TEL-01 and TEL-02 both judge every event A8 stored while the session's traffic ran, so
both read that window the same way (:func:`read_window`: an answer A8 cuts at its limit is
read again in halves) and report what they find the same way (:class:`Tally`: grouped per
event name and problem, so one broken emitter reads as one violation). The pace of
polling A8 is shared with TEL-03.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from secondconf.core.clock import utc_iso
from secondconf.engine.evidence import RequestRecord
from secondconf.target.a8 import A8Client, RawEvents, read_in_halves

SUBJECT: Final = "A8"  # every telemetry verdict is about A8
PAGE_LIMIT: Final = 10_000  # events per /v1/events answer before the window is split
POLL_S: Final = 0.25  # between reads of A8 while waiting for events to be stored
MAX_EXAMPLES: Final = 3  # examples per (event name, problem) group


@dataclass
class EventWindow:
    """The events A8 holds with timestamps in [since, until], and how they were read."""

    since: datetime
    until: datetime
    events: list[dict[str, Any]] = field(default_factory=list)
    untested: list[str] = field(default_factory=list)
    requests: list[RequestRecord] = field(default_factory=list)

    @property
    def bounds(self) -> tuple[str, str]:
        return utc_iso(self.since), utc_iso(self.until)


async def read_window(a8: A8Client, since: datetime, until: datetime) -> EventWindow:
    """Every event A8 holds in the window (an answer A8 cut at its limit is read again in
    halves: :func:`secondconf.target.a8.read_in_halves`), each read recorded as evidence."""
    window = EventWindow(since, until)

    async def read(low: datetime, high: datetime) -> RawEvents:
        page = await a8.raw_events(since=low, until=high, limit=PAGE_LIMIT)
        span = f"since/until {utc_iso(low)} .. {utc_iso(high)}"
        note = f"{len(page.items)} events"
        window.requests.append(RequestRecord("A8", "GET", "/v1/events", span, 200, note=note))
        return page

    window.events, cut = await read_in_halves(read, since, until)
    window.untested.extend(
        f"events of {span}: A8 holds more than {PAGE_LIMIT}, not all read" for span in cut
    )
    return window


@dataclass
class Tally:
    """Problems grouped by (event name, problem), with a count and a few examples each:
    one broken emitter must read as one violation, not as thousands."""

    groups: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)

    def seen(self, name: str) -> None:
        self.totals[name] = self.totals.get(name, 0) + 1

    def add(self, name: str, problem: str, event: Mapping[str, Any]) -> None:
        key = (name, problem)
        self.counts[key] = self.counts.get(key, 0) + 1
        examples = self.groups.setdefault(key, [])
        example = describe(event)
        if len(examples) < MAX_EXAMPLES and example not in examples:
            examples.append(example)

    def violations(self) -> list[str]:
        return [
            f"{problem} in {self.counts[(name, problem)]} of {self.totals.get(name, 0)} "
            f"{name} event(s) (e.g. {'; '.join(examples)})"
            for (name, problem), examples in sorted(self.groups.items())
        ]


def describe(event: Mapping[str, Any]) -> str:
    """An event in a few words: app, route, status and the start of its trace id."""
    trace = event.get("trace_id")
    parts = [
        str(event.get("app_id", "?")),
        str(event.get("route") or "-"),
        f"status {event.get('status')}",
        f"trace {trace[:12]}…" if isinstance(trace, str) else "no trace",
    ]
    return " ".join(parts)


def event_name(event: Mapping[str, Any]) -> str:
    """The event's name, or a placeholder that groups nameless events together."""
    name = event.get("event")
    return name if isinstance(name, str) else "<no event name>"
