"""What A8's dashboards show of the journeys: the funnel-status tile per trace, polled on the
harness clock, and the revenue-lineage tiles (contract §10, §11).

Tile latency is ``t_visible - t_step``, both on the harness's monotonic clock: ``t_step``
when the browser got the step's answer (the event is emitted before that answer, so the
figure is a slight underestimate), ``t_visible`` the first poll whose answer shows the step
(polling runs from the journey's start, every ``poll_interval_s``: the figure's resolution).
A step never shown within the deadline has no latency (``None``): a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Mapping
from typing import Any, Final

from secondconf.checks.funnels.model import STEP_EVENTS
from secondconf.core.clock import Clock
from secondconf.target.a8 import A8Client, TelemetryError


def _items(value: Any, trace_id: Any = None) -> Iterator[tuple[Mapping[str, Any], Any]]:
    """Every JSON object inside ``value`` with the trace id it, or the nearest object around
    it, names (depth first): the tile's shape is read loosely, only the fields the contract
    names (``step``/``event``, ``received_at``, ``trace_id``) count."""
    if isinstance(value, dict):
        trace_id = value.get("trace_id", trace_id)
        yield value, trace_id
        for child in value.values():
            yield from _items(child, trace_id)
    elif isinstance(value, list):
        for child in value:
            yield from _items(child, trace_id)


# The events that show a step when a tile row names no step (A7's landing is shown by its
# cta_emitted, kept at rate 1.0, or by cta_impression, sampled at 10 %).
_EVENT_STEPS: Final[Mapping[str, str]] = {
    **{event: step for step, (_, event) in STEP_EVENTS.items()},
    "cta_emitted": "b2c.landing",
}


def steps_shown(answer: Mapping[str, Any], trace_id: str) -> dict[str, Mapping[str, Any]]:
    """``{step: entry}`` for each B2C step the funnel-status answer shows for ``trace_id``
    (a row with a ``received_at``; its ``step``, else the step its ``event`` plays). A row
    naming another trace is ignored."""
    shown: dict[str, Mapping[str, Any]] = {}
    for item, owner in _items(answer.get("tiles", answer)):
        if item.get("received_at") in (None, "") or owner not in (None, trace_id):
            continue
        step = item.get("step") or _EVENT_STEPS.get(str(item.get("event")))
        if isinstance(step, str) and step in STEP_EVENTS:
            shown.setdefault(
                step, {k: item.get(k) for k in ("event", "app_id", "timestamp", "received_at")}
            )
    return shown


class TileWatch:
    """Polls funnel-status for one trace from the journey's start, noting when each step
    first shows (so a step's latency does not wait for the rest of the journey)."""

    def __init__(
        self, a8: A8Client, trace_id: str, clock: Clock, *, poll_interval_s: float
    ) -> None:
        self._a8, self.trace_id, self._clock = a8, trace_id, clock
        self._interval = poll_interval_s
        self.first_seen: dict[str, tuple[float, Mapping[str, Any]]] = {}

    async def poll_once(self) -> None:
        try:
            answer = await self._a8.dashboard("funnel-status", trace_id=self.trace_id)
        except TelemetryError:
            return  # a failed poll is "not shown yet"; the deadline judges
        now = self._clock.monotonic()
        for step, entry in steps_shown(answer, self.trace_id).items():
            self.first_seen.setdefault(step, (now, entry))

    async def while_walking(self, walked: asyncio.Event) -> None:
        """Poll until ``walked`` is set (the journey's browser part is over).

        Stopped by the event, never cancelled: a poll cancelled in the middle of its request
        abandons the client's connection unclosed (an ``unclosed transport`` warning that
        surfaced later in another check and errored it)."""
        while not walked.is_set():
            await self.poll_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(walked.wait(), self._interval)

    async def settle(
        self, step_times: Mapping[str, float], *, deadline_s: float
    ) -> tuple[dict[str, float | None], dict[str, Mapping[str, Any]]]:
        """Keep polling until every step in ``step_times`` (step -> the harness time of its
        answer) showed or its deadline passed; each step's latency (``None``: never within
        the deadline; 0 when it showed before the browser had the answer) and its row."""
        while True:
            await self.poll_once()
            now = self._clock.monotonic()
            pending = [
                s
                for s, at in step_times.items()
                if s not in self.first_seen and now - at < deadline_s
            ]
            if not pending:
                break
            await asyncio.sleep(self._interval)
        latency: dict[str, float | None] = {}
        seen: dict[str, Mapping[str, Any]] = {}
        for step, at in step_times.items():
            if step in self.first_seen and self.first_seen[step][0] - at <= deadline_s:
                latency[step] = max(0.0, self.first_seen[step][0] - at)
                seen[step] = self.first_seen[step][1]
            else:
                latency[step] = None
        return latency, seen


def revenue_totals(answer: Mapping[str, Any], currency: str = "usd") -> dict[str, int]:
    """``{"real_cents", "real_settlements", "synthetic_cents", "synthetic_settlements"}`` from
    a revenue-lineage answer (gross, in ``currency``)."""
    totals = {
        "real_cents": 0,
        "real_settlements": 0,
        "synthetic_cents": 0,
        "synthetic_settlements": 0,
    }
    for tile in answer.get("tiles", ()):
        name = tile.get("tile") if isinstance(tile, dict) else None
        kind = {"real_revenue": "real", "synthetic_revenue": "synthetic"}.get(str(name))
        if kind is None:
            continue
        money = (tile.get("totals") or {}).get(currency) or {}
        totals[f"{kind}_cents"] = int(money.get("gross_cents") or 0)
        totals[f"{kind}_settlements"] = int(money.get("settlements") or 0)
    return totals


def lineage_items(answer: Mapping[str, Any], trace_ids: set[str]) -> list[dict[str, Any]]:
    """The revenue-lineage items whose settlement belongs to one of ``trace_ids``."""
    found: list[dict[str, Any]] = []
    for tile in answer.get("tiles", ()):
        if not isinstance(tile, dict) or tile.get("tile") != "lineage":
            continue
        for item in tile.get("items") or ():
            settlement = item.get("settlement") or {}
            if settlement.get("trace_id") in trace_ids:
                found.append(
                    {
                        "trace_id": settlement.get("trace_id"),
                        "synthetic": item.get("synthetic"),
                        "counted": item.get("counted"),
                        "currency": item.get("currency"),
                        "gross_cents": item.get("gross_cents"),
                        "stripe_object_id": item.get("stripe_object_id"),
                        "problems": list(item.get("problems") or ()),
                    }
                )
    return found
