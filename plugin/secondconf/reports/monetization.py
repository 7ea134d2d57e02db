"""Phase 4 deliverables: ``billing_logic_verification.md`` and ``a8_data_lineage.md``.

Built from the results model only: the verdicts of the checks marked ``monetization``
(their ``details`` hold every case the check sent). The billing report covers MON-01 …
MON-04 (the rule, how the cases were chosen, every case, the disagreements and the minimal
failing example); the lineage report covers LIN-01 … LIN-03 (every join, the mismatches,
synthetic against real totals, the tile latency). A report whose checks did not run at all
is not written; a check that was skipped is listed with its reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from secondconf.core.files import write_atomic
from secondconf.engine.results import CheckRecord, ResultsModel
from secondconf.engine.verdict import Verdict
from secondconf.settings import HarnessSettings

BILLING_REPORT: Final = "billing_logic_verification.md"
LINEAGE_REPORT: Final = "a8_data_lineage.md"
MONETIZATION_TAG: Final = "monetization"
BILLING_RULES: Final = ("MON-01", "MON-02", "MON-03", "MON-04")
LINEAGE_RULES: Final = ("LIN-01", "LIN-02", "LIN-03")


def _checks(model: ResultsModel, rules: Sequence[str]) -> list[CheckRecord]:
    """The ``monetization`` checks that declare one of ``rules``."""
    return [
        record
        for record in model.checks.values()
        if MONETIZATION_TAG in ((record.marks or {}).get("tags") or ())
        and set(record.declared_rules) & set(rules)
    ]


def _verdicts(checks: Iterable[CheckRecord]) -> dict[str, Verdict]:
    return {str(v.details.get("rule")): v for c in checks for v in c.verdicts}


def write_monetization_reports(model: ResultsModel, settings: HarnessSettings) -> None:
    """Write each phase 4 report whose checks ran (atomically)."""
    billing = _checks(model, BILLING_RULES)
    if billing:
        write_atomic(settings.reports_dir / BILLING_REPORT, billing_report(model, billing))
    lineage = _checks(model, LINEAGE_RULES)
    if lineage:
        write_atomic(settings.reports_dir / LINEAGE_REPORT, lineage_report(model, lineage))


def _cell(value: object) -> str:
    text = "–" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def _summary(
    rules: Sequence[str], verdicts: Mapping[str, Verdict], checks: Sequence[CheckRecord]
) -> list[str]:
    """One line per rule: its verdict with cases and disagreements, or why it has none."""
    lines = ["| rule | verdict | cases | disagreements |", "|---|---|---|---|"]
    for rule_id in rules:
        verdict = verdicts.get(rule_id)
        if verdict is not None:
            lines.append(
                f"| {_cell(verdict.check)} | **{verdict.outcome.value}** "
                f"({verdict.reason.value}) | {verdict.n} | {verdict.k} |"
            )
            continue
        why = next(
            (
                c.skip_reason or c.failure or c.outcome
                for c in checks
                if rule_id in c.declared_rules
            ),
            "not run",
        )
        lines.append(f"| {rule_id} | **NOT RUN** | – | {_cell(why)} |")
    return [*lines, ""]


def _header(model: ResultsModel, title: str, intro: str) -> list[str]:
    return [
        f"# {title}",
        "",
        intro,
        "",
        f"- Generated: {model.generated_at}",
        f"- Target: {model.run_info.get('target', 'unknown')} "
        f"(system map `{model.run_info.get('system_map')}`)",
        "",
    ]


def _problems(verdict: Verdict | None) -> list[str]:
    if verdict is None:
        return []
    lines = [f"- {_cell(v)}" for v in verdict.details.get("violations", ())]
    lines += [f"- untested: {_cell(u)}" for u in verdict.details.get("untested", ())]
    return lines or ["- none"]


# -- billing_logic_verification.md ----------------------------------------------------------


def billing_report(model: ResultsModel, checks: Sequence[CheckRecord]) -> str:
    verdicts = _verdicts(checks)
    fee, markup = verdicts.get("MON-01"), verdicts.get("MON-02")
    lines = _header(
        model,
        "Billing logic verification (phase 4, contract §7)",
        "The target's billing against the harness's own money model "
        "(`secondconf.checks.monetization.model`, which shares no code with any target): "
        "integer cents, decimal rates, round half up to the cent. Every case is a real "
        "request to the target; the amounts it reports are read twice, in the answer and "
        "in the event A8 holds.",
    )
    lines += ["## Result", "", *_summary(BILLING_RULES, verdicts, checks)]
    lines += [
        "## The rule",
        "",
        "- Provider fee: `fee_cents = round_half_up(gross_cents × 0.03)`, "
        "`net_cents = gross_cents − fee_cents` (0.03 taken as the exact fraction 3/100; "
        "`round_half_up(x) = floor(x + 1/2)` in integers, so 4.5 → 5 where `round()` says 4).",
        "- Markup: `billed_cents = cost_cents × 4` (A4 work, and A4 work billed to a provider "
        "by A6).",
        "- Micro SKU: `max(50, 4 × unit_cost_cents)` cents USD, one Stripe Price per lookup "
        "key, created once also under concurrent resolves.",
        "",
    ]
    lines += _fee_section(fee)
    lines += _markup_section(markup)
    lines += _sku_section(verdicts.get("MON-03"), verdicts.get("MON-04"))
    return "\n".join(lines) + "\n"


def _minimal(verdict: Verdict) -> list[str]:
    minimal = verdict.details.get("minimal_failing_example")
    if not minimal:
        return ["Minimal failing example: none (every generated case agreed).", ""]
    case = ", ".join(f"{k}={v}" for k, v in minimal.items() if k != "problems")
    why = "; ".join(str(p) for p in minimal.get("problems", ()))
    return [f"**Minimal failing example** (shrunk by Hypothesis): {case}: {why}", ""]


def _fee_section(verdict: Verdict | None) -> list[str]:
    if verdict is None:
        return []
    search = verdict.details.get("hypothesis") or {}
    boundaries = verdict.details.get("boundaries") or []
    rows = verdict.details.get("cases_table") or []
    lines = [
        "## MON-01, the provider fee",
        "",
        f"Cases: {len(rows)} billings of a synthetic provider on A6 (`POST /v1/billing`): "
        f"every half-cent boundary from {boundaries[0] if boundaries else '–'} to "
        f"{boundaries[-1] if boundaries else '–'} ({len(boundaries)} amounts whose 3 % ends "
        "in exactly half a cent), then Hypothesis-generated gross amounts in "
        f"{search.get('gross_range')} (derandomized, {search.get('max_examples')} examples: "
        "the same cases on every run).",
        "",
        "### Disagreements",
        "",
        *_problems(verdict),
        "",
        *_minimal(verdict),
        "### Cases",
        "",
    ]
    lines += _table(
        (
            "origin",
            "gross",
            "half cent",
            "fee (model)",
            "fee (A6)",
            "fee (A8)",
            "trace",
            "result",
        ),
        (
            (
                r.get("origin"),
                r.get("gross_cents"),
                "yes" if r.get("half_cent") else "",
                r.get("expected_fee_cents"),
                r.get("answered_fee_cents"),
                r.get("a8_fee_cents"),
                r.get("trace_id"),
                "; ".join(r.get("problems") or ()) or "agrees",
            )
            for r in rows
        ),
    )
    return lines


def _markup_section(verdict: Verdict | None) -> list[str]:
    if verdict is None:
        return []
    rows = verdict.details.get("cases_table") or []
    lines = [
        "## MON-02, the 4× markup",
        "",
        f"Cases: {len(rows)}: every A6 billing above that carried A4 work cost, every kind "
        "of A4's catalog once, and Hypothesis-generated (kind, units) on A4 "
        f"(`POST /v1/work`, derandomized, "
        f"{(verdict.details.get('hypothesis') or {}).get('max_examples')} examples).",
        "",
        "### Disagreements",
        "",
        *_problems(verdict),
        "",
        *_minimal(verdict),
        "### Cases",
        "",
    ]
    lines += _table(
        ("app", "work", "cost", "billed (model)", "billed (answer)", "billed (A8)", "result"),
        (
            (
                r.get("app"),
                f"{r['kind']} x {r['units']}" if "kind" in r else f"gross {r.get('gross_cents')}",
                r.get("work_cost_cents"),
                r.get("expected_billed_cents"),
                r.get("answered_billed_cents"),
                r.get("a8_billed_cents"),
                "; ".join(r.get("problems") or ()) or "agrees",
            )
            for r in rows
        ),
    )
    return lines


def _sku_section(prices: Verdict | None, race: Verdict | None) -> list[str]:
    lines: list[str] = []
    if prices is not None:
        lines += ["## MON-03, each catalog item's micro SKU Price (read from Stripe)", ""]
        lines += _table(
            ("kind", "unit cost", "max(50, 4 x cost)", "lookup key", "Stripe Prices", "result"),
            (
                (
                    r.get("kind"),
                    r.get("unit_cost_cents"),
                    r.get("expected_cents"),
                    r.get("lookup_key"),
                    ", ".join(
                        f"{p} ({c})"
                        for p, c in zip(
                            r.get("stripe_prices") or (), r.get("stripe_cents") or (), strict=True
                        )
                    ),
                    "; ".join(r.get("problems") or ()) or "agrees",
                )
                for r in prices.details.get("kinds") or ()
            ),
        )
        lines += ["Disagreements:", "", *_problems(prices), ""]
    if race is not None:
        d = race.details
        lines += [
            "## MON-04, concurrent resolves of a fresh lookup key",
            "",
            f"{d.get('concurrent_resolves')} resolves of `{d.get('lookup_key')}` released "
            f"together ({d.get('answered')} answered); Stripe holds "
            f"{len(d.get('stripe_prices') or ())} Price(s): "
            f"{', '.join(d.get('stripe_prices') or ()) or 'none'}.",
            "",
            "Disagreements:",
            "",
            *_problems(race),
            "",
        ]
    return lines


# -- a8_data_lineage.md ---------------------------------------------------------------------


def lineage_report(model: ResultsModel, checks: Sequence[CheckRecord]) -> str:
    verdicts = _verdicts(checks)
    joins, apart, tiles = (verdicts.get(r) for r in LINEAGE_RULES)
    lines = _header(
        model,
        "A8 revenue lineage (phase 4, contract §11)",
        "Every `revenue_settled` of the run's own synthetic money (provider billings on A6, "
        "micro-charges through A2's checkout) joined by the harness through its "
        "`revenue_event_id` to its source event in A8 and through "
        "`finance_metrics.stripe_object_id` to the PaymentIntent read from Stripe; amount, "
        "currency and metadata (`test_run`, `source`, `trace_id`) must agree.",
    )
    lines += ["## Result", "", *_summary(LINEAGE_RULES, verdicts, checks)]
    if joins is not None:
        rows = joins.details.get("joins") or []
        lines += [
            "## Joins",
            "",
            f"{len(rows)} settlement(s) joined; A8's broken-lineage tile counted "
            f"{joins.details.get('broken_tile_count')} broken in all (every trace).",
            "",
        ]
        lines += _table(
            (
                "app",
                "trace",
                "revenue_event_id",
                "sources",
                "settled",
                "source",
                "Stripe object",
                "Stripe",
                "currency",
                "metadata (test_run, source, trace_id)",
                "result",
            ),
            (
                (
                    r.get("app_id"),
                    r.get("trace_id"),
                    r.get("revenue_event_id"),
                    r.get("source_events"),
                    r.get("settled_cents"),
                    r.get("source_cents"),
                    r.get("stripe_object_id"),
                    r.get("stripe_cents"),
                    r.get("currency"),
                    ", ".join(
                        str((r.get("stripe_metadata") or {}).get(k))
                        for k in ("test_run", "source", "trace_id")
                    ),
                    "; ".join(r.get("problems") or ()) or "joined",
                )
                for r in rows
            ),
        )
        lines += ["## Mismatches", "", *_problems(joins), ""]
    if apart is not None:
        d = apart.details
        lines += [
            "## Synthetic apart from real",
            "",
            f"Real revenue before: {d.get('real_before')}; after: {d.get('real_after')}; "
            f"real settlements received meanwhile: {d.get('real_settled') or 'none'}.",
            "",
            *_problems(apart),
            "",
        ]
    if tiles is not None:
        d = tiles.details
        latency = d.get("latency_s") or {}
        lines += [
            "## Tile latency",
            "",
            f"From the target's answer to the settlement on the `lineage` tile (its "
            f"`updated_at` at or after the settlement's `received_at`), polled every "
            f"{d.get('poll_s')} s; deadline {d.get('deadline_s')} s; "
            f"max {d.get('max_latency_s')} s.",
            "",
        ]
        lines += _table(("trace", "seconds"), sorted(latency.items(), key=lambda x: x[1]))
        lines += [*_problems(tiles), ""]
    return "\n".join(lines) + "\n"
