"""Phase 3 deliverable: ``compliance.md``, each contract §14 rule, what was tried, outcome.

Built from the results model only: the checks marked ``compliance`` and their verdicts
(PII-*, COPPA-*, FERPA-*, INT-*). Each rule gets its verdict, the cases it exercised
(``details["cases"]``, or what the scan covered), every violation and every case it could
not exercise, with the reason. Findings are the verdicts' own lines, which name places
and kinds of PII, never values. A check that did not run is listed with its skip reason;
with no compliance check at all nothing is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from secondconf.contract.catalog import CATALOG
from secondconf.core.files import write_atomic
from secondconf.engine.results import CheckRecord, ResultsModel
from secondconf.engine.verdict import Outcome, Verdict
from secondconf.settings import HarnessSettings

COMPLIANCE_REPORT: Final = "compliance.md"
COMPLIANCE_TAG: Final = "compliance"
RULE_PREFIXES: Final = ("PII-", "COPPA-", "FERPA-", "INT-")


def compliance_checks(model: ResultsModel) -> list[CheckRecord]:
    """The checks marked ``compliance``, in the order they ran."""
    return [
        record
        for record in model.checks.values()
        if COMPLIANCE_TAG in ((record.marks or {}).get("tags") or ())
    ]


def write_compliance_report(model: ResultsModel, settings: HarnessSettings) -> None:
    """Write ``<reports_dir>/compliance.md`` atomically, if any compliance check ran."""
    checks = compliance_checks(model)
    if checks:
        write_atomic(settings.reports_dir / COMPLIANCE_REPORT, compliance_report(model, checks))


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _tried(verdict: Verdict) -> list[str]:
    """What the rule exercised, as the check recorded it."""
    details: Mapping[str, Any] = verdict.details
    cases = details.get("cases")
    if isinstance(cases, list) and cases:
        return [str(c) for c in cases]
    scan = details.get("scan")
    if isinstance(scan, Mapping):
        canaries = " and the run's canaries" if scan.get("canaries_searched") else ""
        tried = [
            f"{scan.get('events_scanned', 0)} A8 event(s) and {scan.get('files_scanned', 0)} "
            f"file(s) searched for the PII patterns{canaries}"
        ]
        planted = details.get("planted")
        if isinstance(planted, list):
            tried.extend(f"canaries planted in {where}" for where in planted)
        folders = details.get("folders")
        if isinstance(folders, list):
            tried.extend(f"folder {folder}" for folder in folders)
        return tried
    return [f"{verdict.n} case(s)"]


def _rule_section(verdict: Verdict) -> list[str]:
    rule_id = str(verdict.details.get("rule"))
    rule = CATALOG.get(rule_id)
    title = rule.title if rule is not None else verdict.check
    lines = [
        f"## {rule_id}: {title}",
        "",
        f"**{verdict.outcome.value}** ({verdict.reason.value}), n = {verdict.n} case(s), "
        f"k = {verdict.k} violation(s); subject {verdict.subject}, contract "
        f"{verdict.details.get('contract', '§14')}",
        "",
        "Tried:",
        "",
        *(f"- {_cell(line)}" for line in _tried(verdict)),
        "",
    ]
    violations = verdict.details.get("violations") or []
    untested = verdict.details.get("untested") or []
    if violations:
        lines += ["Violations:", "", *(f"- {_cell(v)}" for v in violations), ""]
    if untested:
        lines += ["Not exercised:", "", *(f"- {_cell(u)}" for u in untested), ""]
    return lines


def compliance_report(model: ResultsModel, checks: list[CheckRecord]) -> str:
    verdicts = [
        v
        for record in checks
        for v in record.verdicts
        if str(v.details.get("rule", "")).startswith(RULE_PREFIXES)
    ]
    verdicts.sort(key=lambda v: str(v.details.get("rule")))
    counts = {o: sum(v.outcome is o for v in verdicts) for o in Outcome}
    not_run = [record for record in checks if record.outcome == "skipped"]
    lines = [
        "# Compliance: PII minimization, COPPA, FERPA, academic integrity (phase 3)",
        "",
        "Contract §14, checked against the target as synthetic identities only. Each rule "
        "is exhaustive over its cases: PASS when every case held, FAIL naming each "
        "violation, INCONCLUSIVE when nothing could be exercised (it fails the gate). PII "
        "findings name the file or event and the field, never the value.",
        "",
        f"**Result: {len(verdicts)} rule verdict(s): {counts[Outcome.PASS]} PASS, "
        f"{counts[Outcome.FAIL]} FAIL, {counts[Outcome.INCONCLUSIVE]} INCONCLUSIVE; "
        f"{len(not_run)} check(s) not run**",
        "",
        "| rule | outcome | n | violations |",
        "|---|---|---|---|",
        *(f"| {v.details.get('rule')} | {v.outcome.value} | {v.n} | {v.k} |" for v in verdicts),
        "",
    ]
    for verdict in verdicts:
        lines += _rule_section(verdict)
    for record in not_run:
        lines += [f"- not run: `{record.nodeid}`: {_cell(record.skip_reason or 'skipped')}"]
    if model.run_id:
        lines += ["", f"Run {model.run_id}, generated {model.generated_at}."]
    return "\n".join(lines).rstrip() + "\n"
