"""A8's dashboards as pure functions of stored events (each with ``received_at``).

Every tile has ``updated_at``: the latest ``received_at`` among the events that feed it
(``None`` when none do). It moves only when the tile's data can have changed, which is
what a "tile updates within 60 s" check needs, and why a synthetic payment leaves the
real-revenue tile's ``updated_at`` alone. Counts of sampled events are sample-weighted
estimates (``1 / sample_rate``); ``samples`` is the raw count.

Synthetic traffic (``tags.test_run`` true, §5) is reported apart and never enters a real
total; a settlement counts as synthetic when it *or* its source is tagged so, because a
half-tagged payment must not leak into real revenue.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Final

from reftarget.telemetry.schema import Event
from reftarget.telemetry.slo import summarize

NAMES: Final[tuple[str, ...]] = ("slo-matrix", "revenue-lineage", "funnel-status", "activation")
LINEAGE_SOURCES: Final[tuple[str, ...]] = ("checkout_completed", "provider_billed")
# (expected emitter, event) per step, in funnel order (contract §1: B2C A7 -> A1 -> A5 -> A3
# -> A2 -> A8, B2B A7 -> A6 -> A8). Settlement is on the revenue-lineage dashboard.
B2C_FUNNEL: Final[tuple[tuple[str, str], ...]] = (
    ("A7", "cta_impression"),
    ("A1", "identity_ok"),
    ("A5", "activation_first_use"),
    ("A5", "credit_decrement"),
    ("A3", "orchestration_cycle_complete"),
    ("A2", "checkout_completed"),
)
B2B_FUNNEL: Final[tuple[tuple[str, str], ...]] = (
    ("A7", "cta_impression"),
    ("A6", "provider_registered"),
    ("A6", "provider_listing_published"),
    ("A6", "provider_billed"),
)
FUNNEL_EVENTS: Final[tuple[str, ...]] = tuple(
    dict.fromkeys(name for _, name in B2C_FUNNEL + B2B_FUNNEL)
)
# Growth hygiene (issue 12): the page and CTA events sit on the activation dashboard too.
GROWTH_EVENTS: Final[tuple[str, ...]] = (
    "page_build_requested",
    "page_published",
    "cta_emitted",
    "cta_impression",
)
ACTIVATION_EVENTS: Final[tuple[str, ...]] = (
    "activation_first_use",
    "credit_decrement",
    *GROWTH_EVENTS,
)


def is_synthetic(event: Event) -> bool:
    tags = event.get("tags")
    return isinstance(tags, dict) and tags.get("test_run") is True


def _weight(event: Event) -> float:
    return 1.0 / float(event["sample_rate"])


def _latest(events: Iterable[Event | None]) -> str | None:
    stamps = [e["received_at"] for e in events if e is not None]
    return max(stamps) if stamps else None  # fixed-width RFC 3339 Z: text order is time order


def _metrics(event: Event) -> dict[str, Any]:
    fm = event.get("finance_metrics")
    return fm if isinstance(fm, dict) else {}


# -- slo-matrix ---------------------------------------------------------------------------


def slo_matrix(requests: Sequence[Event]) -> list[dict[str, Any]]:
    """One tile per (app_id, route) with §6's SLO numbers."""
    groups: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for event in requests:
        groups[(event["app_id"], event["route"])].append(event)
    tiles = []
    for (app_id, route), events in sorted(groups.items()):
        summary = summarize((e["status"], e["latency_ms"], e["sample_rate"]) for e in events)
        tiles.append(
            {"tile": "slo", "app_id": app_id, "route": route}
            | summary
            | {"updated_at": _latest(events)}
        )
    return tiles


# -- revenue-lineage ----------------------------------------------------------------------


def _ref(event: Event | None) -> dict[str, Any] | None:
    if event is None:
        return None
    return {
        "event": event["event"],
        "app_id": event["app_id"],
        "trace_id": event["trace_id"],
        "tenant_id": event["tenant_id"],
        "timestamp": event["timestamp"],
        "received_at": event["received_at"],
        "stripe_object_id": _metrics(event).get("stripe_object_id"),
    }


def _lineage_problems(settled: Event, sources: Sequence[Event], repeat: int) -> list[str]:
    fm = _metrics(settled)
    problems: list[str] = []
    if repeat > 1:
        problems.append(f"revenue_settled #{repeat} for this revenue_event_id (counted once)")
    if not sources:
        problems.append("no checkout_completed or provider_billed carries this revenue_event_id")
    elif len(sources) > 1:
        problems.append(f"{len(sources)} source events carry this revenue_event_id")
    if fm.get("stripe_object_id") is None:
        problems.append("no finance_metrics.stripe_object_id: not joined to a Stripe object")
    if fm.get("gross_cents") is None:
        problems.append("no finance_metrics.gross_cents on the settlement")
    if float(settled["sample_rate"]) != 1.0:
        problems.append("finance event was sampled (sample_rate < 1)")
    if sources:
        sfm = _metrics(sources[0])
        for key in ("stripe_object_id", "currency", "gross_cents"):
            mine, theirs = fm.get(key), sfm.get(key)
            if mine is not None and theirs is not None and mine != theirs:
                problems.append(f"{key} differs from the source's ({mine!r} vs {theirs!r})")
        if is_synthetic(sources[0]) != is_synthetic(settled):
            problems.append("synthetic tag differs between settlement and source")
    return problems


def _totals(items: Iterable[dict[str, Any]]) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = {}
    for item in items:
        money = totals.setdefault(
            str(item["currency"] or "unknown").lower(),
            {"gross_cents": 0, "fee_cents": 0, "net_cents": 0, "settlements": 0},
        )
        for key in ("gross_cents", "fee_cents", "net_cents"):
            money[key] += item[key] or 0
        money["settlements"] += 1
    return totals


def revenue_lineage(
    settled: Sequence[Event], sources: Sequence[Event], *, synthetic_apart: bool = True
) -> list[dict[str, Any]]:
    """Join each ``revenue_settled`` to its source event and Stripe object (§7).

    ``synthetic_apart=False`` is the ``synthetic_apart`` fault: every settlement is counted
    as real revenue, whatever its tags.

    Tiles: ``real_revenue`` and ``synthetic_revenue`` (per-currency totals, each
    revenue_event_id counted once), ``lineage`` (every settlement), ``broken_lineage``
    (settlements with problems, each listed with its reasons) and ``unsettled`` (source
    events no settlement references yet).
    """
    by_id: dict[str, list[Event]] = defaultdict(list)
    for source in sources:
        if source["revenue_event_id"] is not None:
            by_id[source["revenue_event_id"]].append(source)
    seen: Counter[str] = Counter()
    items: list[dict[str, Any]] = []
    feeds: list[tuple[dict[str, Any], list[Event | None]]] = []
    for event in settled:
        rid = event["revenue_event_id"]
        seen[rid] += 1
        matches = by_id.get(rid, [])
        origin = matches[0] if matches else None
        fm = _metrics(event)
        item: dict[str, Any] = {
            "revenue_event_id": rid,
            "synthetic": synthetic_apart
            and (is_synthetic(event) or (origin is not None and is_synthetic(origin))),
            "counted": seen[rid] == 1,
            "currency": fm.get("currency"),
            "gross_cents": fm.get("gross_cents"),
            "fee_cents": fm.get("fee_cents"),
            "net_cents": fm.get("net_cents"),
            "stripe_object_id": fm.get("stripe_object_id"),
            "settlement": _ref(event),
            "source": _ref(origin),
            "problems": _lineage_problems(event, matches, seen[rid]),
        }
        items.append(item)
        feeds.append((item, [event, origin]))
    settled_ids = set(seen)
    unsettled = [s for s in sources if s["revenue_event_id"] not in settled_ids]
    broken = [(i, f) for i, f in feeds if i["problems"]]

    def revenue_tile(tile: str, synthetic: bool) -> dict[str, Any]:
        chosen = [(i, f) for i, f in feeds if i["counted"] and i["synthetic"] is synthetic]
        return {
            "tile": tile,
            "totals": _totals(i for i, _ in chosen),
            "updated_at": _latest(e for _, f in chosen for e in f),
        }

    return [
        revenue_tile("real_revenue", False),
        revenue_tile("synthetic_revenue", True),
        {
            "tile": "lineage",
            "count": len(items),
            "items": items,
            "updated_at": _latest(e for _, f in feeds for e in f),
        },
        {
            "tile": "broken_lineage",
            "count": len(broken),
            "items": [i for i, _ in broken],
            "updated_at": _latest(e for _, f in broken for e in f),
        },
        {
            "tile": "unsettled",
            "count": len(unsettled),
            "items": [
                {"revenue_event_id": s["revenue_event_id"], "synthetic": is_synthetic(s)}
                | (_ref(s) or {})
                for s in unsettled
            ],
            "updated_at": _latest(unsettled),
        },
    ]


# -- funnel-status and activation -----------------------------------------------------------


def _split(events: Sequence[Event]) -> dict[str, Any]:
    real = sum(_weight(e) for e in events if not is_synthetic(e))
    synthetic = sum(_weight(e) for e in events if is_synthetic(e))
    return {"real": round(real, 6), "synthetic": round(synthetic, 6), "samples": len(events)}


# One journey's steps as the funnel-status dashboard shows them for a trace (harness
# extension of §10): (step, emitter, events that show it; the first found counts). The
# landing step is A7's cta_emitted, kept at rate 1.0 (cta_impression is sampled at 10 %).
JOURNEY_STEPS: Final[dict[str, tuple[tuple[str, str, tuple[str, ...]], ...]]] = {
    "b2c": (
        ("b2c.landing", "A7", ("cta_emitted", "cta_impression")),
        ("b2c.signup", "A1", ("identity_ok",)),
        ("b2c.activation", "A5", ("activation_first_use",)),
        ("b2c.attribution", "A3", ("conversion_attributed",)),
        ("b2c.checkout", "A2", ("checkout_completed",)),
        ("b2c.settlement", "A2", ("revenue_settled",)),
    ),
}
JOURNEY_EVENTS: Final[tuple[str, ...]] = tuple(
    dict.fromkeys(name for steps in JOURNEY_STEPS.values() for *_, names in steps for name in names)
)


def journey(events: Sequence[Event], trace_id: str) -> list[dict[str, Any]]:
    """One tile per funnel for one trace: each step's event, app, ``timestamp`` (the
    event's own time) and ``received_at`` (A8's), or nulls while A8 has not seen it."""
    mine = [e for e in events if e["trace_id"] == trace_id]
    tiles = []
    for funnel, steps in JOURNEY_STEPS.items():
        rows = []
        found: list[Event] = []
        for step, app_id, names in steps:
            hit = next((e for e in mine if e["event"] in names and e["app_id"] == app_id), None)
            if hit is not None:
                found.append(hit)
            rows.append(
                {
                    "step": step,
                    "event": hit["event"] if hit else names[0],
                    "app_id": app_id,
                    "timestamp": hit["timestamp"] if hit else None,
                    "received_at": hit["received_at"] if hit else None,
                }
            )
        tiles.append(
            {
                "tile": f"{funnel}_journey",
                "trace_id": trace_id,
                "steps": rows,
                "complete": len(found) == len(steps),
                "updated_at": _latest(found),
            }
        )
    return tiles


def funnel_status(events: Sequence[Event]) -> list[dict[str, Any]]:
    """Per funnel, each step's event count (weighted), real and synthetic apart."""
    by_name: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_name[event["event"]].append(event)
    tiles = []
    for tile, steps in (("b2c", B2C_FUNNEL), ("b2b", B2B_FUNNEL)):
        tiles.append(
            {
                "tile": tile,
                "steps": [
                    {"step": n, "event": name, "app_id": app_id} | _split(by_name[name])
                    for n, (app_id, name) in enumerate(steps, start=1)
                ],
                "updated_at": _latest(e for _, name in steps for e in by_name[name]),
            }
        )
    return tiles


def _listed(events: Sequence[Event]) -> dict[str, Any]:
    """Each event with its own time and A8's receipt (for a dashboard asked about a trace)."""
    keys = ("event", "app_id", "trace_id", "timestamp", "received_at")
    return {"events": [{key: e.get(key) for key in keys} for e in events]}


def activation(events: Sequence[Event], *, listed: bool = False) -> list[dict[str, Any]]:
    """First uses (and distinct tenants), credit decrements (and billed cents), and one
    tile per growth event (pages built and published, CTAs emitted, impressions).

    ``listed`` (the dashboard was asked about one trace): every tile also lists its events
    with ``timestamp`` and ``received_at``, so a reader can time each one's arrival.
    """
    firsts = [e for e in events if e["event"] == "activation_first_use"]
    spends = [e for e in events if e["event"] == "credit_decrement"]

    def items(chosen: Sequence[Event]) -> dict[str, Any]:
        return _listed(chosen) if listed else {}

    def tenants(chosen: Iterable[Event], synthetic: bool) -> int:
        return len({e["tenant_id"] for e in chosen if is_synthetic(e) is synthetic} - {None})

    def billed(synthetic: bool) -> int:
        mine = [e for e in spends if is_synthetic(e) is synthetic]
        return sum(int(_metrics(e).get("billed_cents") or 0) for e in mine)

    return [
        {"tile": "activation_first_use"}
        | _split(firsts)
        | {
            "real_tenants": tenants(firsts, False),
            "synthetic_tenants": tenants(firsts, True),
            "updated_at": _latest(firsts),
        }
        | items(firsts),
        {"tile": "credit_decrement"}
        | _split(spends)
        | {
            "real_billed_cents": billed(False),
            "synthetic_billed_cents": billed(True),
            "updated_at": _latest(spends),
        }
        | items(spends),
        *(
            {"tile": name} | _split(chosen) | {"updated_at": _latest(chosen)} | items(chosen)
            for name in GROWTH_EVENTS
            for chosen in [[e for e in events if e["event"] == name]]
        ),
    ]
