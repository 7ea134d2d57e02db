"""LIN-01, LIN-02 and LIN-03 (contract §11): revenue lineage, joined by the harness itself.

The harness makes the money it then follows (so the check never depends on other traffic):
synthetic provider billings on A6 and synthetic micro-charges through A2's checkout API,
each with its own trace id. Then, for every ``revenue_settled`` of those traces:

* LIN-01: the harness joins it, through its ``revenue_event_id``, to exactly one source
  event (``checkout_completed`` or ``provider_billed``) in A8, and through
  ``finance_metrics.stripe_object_id`` to the PaymentIntent it reads from Stripe; the
  amount, currency and metadata (``test_run``, ``source``, ``trace_id``) must agree across
  the three. A8's own ``broken_lineage`` tile must list none of them.
* LIN-02: A8's ``lineage`` tile calls each of them synthetic, and the ``real_revenue``
  totals moved by exactly the real settlements A8 received meanwhile (none, on a target
  with no real traffic): synthetic money never reaches the real totals.
* LIN-03: each settlement shows on the ``lineage`` tile, with the tile's ``updated_at`` at
  or after the settlement's ``received_at``, within 60 s of the harness's answer; the
  latency is measured per settlement on the harness's clock (poll interval: its bound).

The tile shapes are the harness extension of ``docs/contract.md`` ("Revenue-lineage tiles").
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from secondconf.checks.monetization.actors import Sent, SyntheticActor
from secondconf.contract.catalog import rule_by_id
from secondconf.core.clock import Clock, utc_iso
from secondconf.engine.rules import rule_verdict
from secondconf.engine.verdict import Verdict
from secondconf.target.a8 import A8Client, StoredEvent, TelemetryError
from secondconf.target.stripe_api import StripeReader, StripeReadError

JOIN_RULE: Final = rule_by_id("LIN-01")
SYNTHETIC_RULE: Final = rule_by_id("LIN-02")
TILE_RULE: Final = rule_by_id("LIN-03")
DASHBOARD: Final = "revenue-lineage"
TILE_DEADLINE_S: Final = 60.0
POLL_S: Final = 1.0
SOURCE_EVENTS: Final = ("checkout_completed", "provider_billed")
# The provider billings' gross amounts: a half-cent boundary, a plain amount, a large one.
BILLING_GROSS_CENTS: Final = (150, 1234, 98_765)
CHECKOUTS: Final = 3


@dataclass(frozen=True)
class Money:
    """One request that should settle revenue, and when the harness had its answer."""

    sent: Sent
    answered_at: float  # the harness's monotonic clock
    answered_wall: str


@dataclass
class LineageRun:
    """What the lineage checks saw."""

    money: list[Money] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    before: Mapping[str, Any] = field(default_factory=dict)  # dashboard before the traffic
    after: Mapping[str, Any] = field(default_factory=dict)  # dashboard once all were seen
    seen_after_s: dict[str, float] = field(default_factory=dict)  # trace -> tile latency
    stale_tile: dict[str, str] = field(default_factory=dict)  # trace -> why the tile lagged
    window_start: str = ""


def make_money(
    provider: SyntheticActor, student: SyntheticActor, clock: Clock, run: LineageRun
) -> None:
    """The synthetic money the checks follow: A6 billings and A2 micro-charges."""
    sends: list[tuple[SyntheticActor, str, str, dict[str, Any]]] = [
        (provider, "A6", "/v1/billing", {"gross_cents": gross, "work_cost_cents": 12})
        for gross in BILLING_GROSS_CENTS
    ]
    sends += [(student, "A2", "/v1/checkout", {})] * CHECKOUTS
    registered = provider.post("A6", "/v1/providers", {"display_name": "QA money"})
    if registered.status not in (200, 201):
        run.refused.append(registered.outcome())
    for actor, app_id, path, body in sends:
        sent = actor.post(app_id, path, body)
        if sent.status == 201:
            run.money.append(Money(sent, clock.monotonic(), utc_iso(clock.now())))
        else:
            run.refused.append(sent.outcome())


def tile(dashboard: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """The dashboard's tile ``name`` (empty when A8 has no such tile)."""
    for item in dashboard.get("tiles") or ():
        if isinstance(item, dict) and item.get("tile") == name:
            return item
    return {}


def lineage_items(dashboard: Mapping[str, Any], name: str = "lineage") -> dict[str, dict[str, Any]]:
    """trace id -> the tile's item for that trace's settlement."""
    found: dict[str, dict[str, Any]] = {}
    for item in tile(dashboard, name).get("items") or ():
        settlement = item.get("settlement") if isinstance(item, dict) else None
        if isinstance(settlement, dict) and isinstance(settlement.get("trace_id"), str):
            found[settlement["trace_id"]] = item
    return found


async def watch_tiles(a8: A8Client, run: LineageRun, clock: Clock) -> None:
    """Poll the lineage tile until every settlement shows, or the 60 s deadline passes."""
    waiting = {m.sent.trace_id: m for m in run.money}
    while True:
        dashboard = await a8.dashboard(DASHBOARD)
        now = clock.monotonic()
        updated_at = tile(dashboard, "lineage").get("updated_at")
        for trace_id, item in lineage_items(dashboard).items():
            money = waiting.pop(trace_id, None)
            if money is None:
                continue
            run.seen_after_s[trace_id] = round(now - money.answered_at, 3)
            received = (item.get("settlement") or {}).get("received_at")
            if not isinstance(updated_at, str) or not isinstance(received, str):
                run.stale_tile[trace_id] = "the tile or the settlement has no time"
            elif updated_at < received:  # fixed-width RFC 3339 UTC: text order is time order
                run.stale_tile[trace_id] = f"updated_at {updated_at} < received_at {received}"
        run.after = dashboard
        if not waiting or max(now - m.answered_at for m in waiting.values()) > TILE_DEADLINE_S:
            return
        await asyncio.sleep(POLL_S)


@dataclass(frozen=True)
class Join:
    """One settlement joined to its source events and its Stripe object."""

    trace_id: str
    app_id: str
    revenue_event_id: str | None
    settled_cents: Any
    currency: Any
    source_events: int
    source_cents: Any
    stripe_object_id: Any
    stripe_cents: Any
    stripe_metadata: Mapping[str, str]
    problems: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "problems": list(self.problems)}


def _metrics(event: StoredEvent | None) -> Mapping[str, Any]:
    fm = None if event is None else event.raw.get("finance_metrics")
    return fm if isinstance(fm, dict) else {}


async def join(
    money: Money,
    settled: Sequence[StoredEvent],
    sources: Mapping[str, list[StoredEvent]],
    stripe: StripeReader,
) -> Join:
    """LIN-01's join of one trace's settlement, every disagreement named."""
    trace_id = money.sent.trace_id
    problems: list[str] = []
    if len(settled) != 1:
        problems.append(f"A8 holds {len(settled)} revenue_settled for the trace, not 1")
    event = settled[0] if settled else None
    fm = _metrics(event)
    rid = None if event is None else event.raw.get("revenue_event_id")
    matched = sources.get(rid, []) if isinstance(rid, str) else []
    if event is not None and len(matched) != 1:
        problems.append(f"{len(matched)} source events carry revenue_event_id {rid!r}, not 1")
    source_fm = _metrics(matched[0]) if matched else {}
    for key in ("gross_cents", "currency", "stripe_object_id"):
        if matched and source_fm.get(key) != fm.get(key):
            problems.append(
                f"{key} {fm.get(key)!r} differs from the source's {source_fm.get(key)!r}"
            )
    object_id = fm.get("stripe_object_id")
    payment = None
    if event is not None and not isinstance(object_id, str):
        problems.append("the settlement names no Stripe object (finance_metrics.stripe_object_id)")
    elif isinstance(object_id, str):
        try:
            payment = await stripe.payment_intent(object_id)
        except StripeReadError as error:
            problems.append(f"Stripe object {object_id}: {error}")
    if payment is not None and event is not None:
        problems += _stripe_problems(event, fm, payment.amount, payment.currency, payment.metadata)
    return Join(
        trace_id=trace_id,
        app_id=money.sent.app_id,
        revenue_event_id=rid if isinstance(rid, str) else None,
        settled_cents=fm.get("gross_cents"),
        currency=fm.get("currency"),
        source_events=len(matched),
        source_cents=source_fm.get("gross_cents"),
        stripe_object_id=object_id,
        stripe_cents=None if payment is None else payment.amount,
        stripe_metadata={} if payment is None else dict(payment.metadata),
        problems=tuple(problems),
    )


def _stripe_problems(
    event: StoredEvent,
    fm: Mapping[str, Any],
    amount: int,
    currency: str,
    metadata: Mapping[str, str],
) -> list[str]:
    problems = []
    if amount != fm.get("gross_cents"):
        problems.append(
            f"Stripe charged {amount} cents, the settlement says {fm.get('gross_cents')!r}"
        )
    if currency != fm.get("currency"):
        problems.append(f"Stripe's currency {currency!r}, the settlement's {fm.get('currency')!r}")
    expected = {
        "test_run": "true" if event.tags.get("test_run") is True else "false",
        "source": str(event.tags.get("source") or ""),
        "trace_id": event.trace_id,
    }
    for key, value in expected.items():
        if metadata.get(key) != value:
            problems.append(
                f"Stripe metadata {key}={metadata.get(key)!r}, the event says {value!r}"
            )
    return problems


async def join_all(
    a8: A8Client, stripe: StripeReader, run: LineageRun, since: datetime
) -> list[Join]:
    """LIN-01's joins, one per settlement the harness caused."""
    sources: dict[str, list[StoredEvent]] = {}
    for name in SOURCE_EVENTS:
        for event in await a8.events(event=name, since=since):
            rid = event.raw.get("revenue_event_id")
            if isinstance(rid, str):
                sources.setdefault(rid, []).append(event)
    joins = []
    for money in run.money:
        settled = await a8.events(event="revenue_settled", trace_id=money.sent.trace_id)
        joins.append(await join(money, settled, sources, stripe))
    return joins


def judge_joins(run: LineageRun, joins: Sequence[Join]) -> Verdict:
    """LIN-01 from the harness's joins and A8's own broken-lineage tile (one violation
    line per settlement, naming everything wrong with it)."""
    broken = lineage_items(run.after, "broken_lineage")
    violations = []
    for j in joins:
        problems = list(j.problems)
        if j.trace_id in broken:
            reasons = "; ".join(str(r) for r in broken[j.trace_id].get("problems") or ())
            problems.append(f"A8 lists it as broken ({reasons})")
        if problems:
            violations.append(f"{j.app_id} trace {j.trace_id}: {'; '.join(problems)}")
    return rule_verdict(
        JOIN_RULE,
        "A2+A6",
        cases=len(joins),
        violations=violations,
        untested=run.refused,
        source="A8+Stripe",
        details={
            "joins": [j.to_dict() for j in joins],
            "broken_tile_count": tile(run.after, "broken_lineage").get("count"),
            "window_start": run.window_start,
        },
    )


def _real_totals(dashboard: Mapping[str, Any]) -> dict[str, int]:
    totals = tile(dashboard, "real_revenue").get("totals") or {}
    return {
        str(currency): int(money.get("gross_cents") or 0)
        for currency, money in totals.items()
        if isinstance(money, dict)
    }


def judge_synthetic_apart(run: LineageRun, real_settled: Sequence[StoredEvent]) -> Verdict:
    """LIN-02: each settlement of the run is synthetic on the tile, and the real totals
    moved by exactly the real settlements A8 received in the window (``real_settled``)."""
    violations = []
    items = lineage_items(run.after)
    for money in run.money:
        item = items.get(money.sent.trace_id)
        if item is not None and item.get("synthetic") is not True:
            violations.append(
                f"{money.sent.app_id} trace {money.sent.trace_id}: counted as real revenue"
            )
    before, after = _real_totals(run.before), _real_totals(run.after)
    expected: Counter[str] = Counter()
    for event in real_settled:
        fm = _metrics(event)
        expected[str(fm.get("currency"))] += int(fm.get("gross_cents") or 0)
    moved = {c: after.get(c, 0) - before.get(c, 0) for c in set(before) | set(after)}
    for currency in sorted(set(moved) | set(expected)):
        if moved.get(currency, 0) != expected.get(currency, 0):
            violations.append(
                f"real {currency} revenue moved by {moved.get(currency, 0)} cents; real "
                f"settlements in the window add up to {expected.get(currency, 0)}"
            )
    return rule_verdict(
        SYNTHETIC_RULE,
        "A8",
        cases=len(items.keys() & {m.sent.trace_id for m in run.money}) + 1,  # + the totals
        violations=violations,
        untested=run.refused,
        source="A8",
        details={"real_before": before, "real_after": after, "real_settled": dict(expected)},
    )


def judge_tiles(run: LineageRun) -> Verdict:
    """LIN-03: each settlement on the lineage tile within 60 s, the tile's time moved."""
    violations = []
    for money in run.money:
        trace_id = money.sent.trace_id
        latency = run.seen_after_s.get(trace_id)
        if latency is None:
            violations.append(f"{money.sent.app_id} trace {trace_id}: never on the tile in 60 s")
        elif latency > TILE_DEADLINE_S:
            violations.append(
                f"{money.sent.app_id} trace {trace_id}: on the tile after {latency} s"
            )
        if trace_id in run.stale_tile:
            violations.append(f"{money.sent.app_id} trace {trace_id}: {run.stale_tile[trace_id]}")
    latencies = sorted(run.seen_after_s.values())
    return rule_verdict(
        TILE_RULE,
        "A8",
        cases=len(run.money),
        violations=violations,
        untested=run.refused,
        source="A8",
        details={
            "deadline_s": TILE_DEADLINE_S,
            "poll_s": POLL_S,
            "latency_s": dict(run.seen_after_s),
            "max_latency_s": latencies[-1] if latencies else None,
        },
    )


async def observe(
    a8: A8Client, stripe: StripeReader, run: LineageRun, since: datetime, clock: Clock
) -> tuple[Verdict, Verdict, Verdict]:
    """The three verdicts on the money ``run`` made (after :func:`make_money`)."""
    try:
        await watch_tiles(a8, run, clock)
        joins = await join_all(a8, stripe, run, since)
        settled = await a8.events(event="revenue_settled", since=since)
    except TelemetryError as error:
        run.refused.append(f"A8: {error}")
        joins, settled = [], []
    real = [e for e in settled if e.tags.get("test_run") is not True]
    return judge_joins(run, joins), judge_synthetic_apart(run, real), judge_tiles(run)
