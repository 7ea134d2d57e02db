"""The rule catalogue: one row per check id, and the checks' tables agree with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from secondconf.checks.hardening import fuzzing, ttl
from secondconf.checks.hardening.cases import CASES
from secondconf.checks.hardening.rules import RULES
from secondconf.checks.oidc import cookies, provider, tokens
from secondconf.checks.safety import prod_guard
from secondconf.checks.telemetry import dedupe, sampling, schema
from secondconf.contract.catalog import CATALOG, ROWS, UnknownRuleError, rule_by_id
from secondconf.hitl.log import GATES
from secondconf.pytest_plugin.markers import BARE_MARKERS


def test_every_id_has_exactly_one_row() -> None:
    ids = [row.rule_id for row in ROWS]
    assert len(ids) == len(set(ids)) == len(CATALOG)


def test_an_unknown_id_names_itself_and_the_catalogue() -> None:
    with pytest.raises(UnknownRuleError) as raised:
        rule_by_id("IDEM-99")
    assert str(raised.value) == (
        "'IDEM-99' is not a catalogued rule id (secondconf.contract.catalog)"
    )


def test_every_row_names_a_registered_marker_and_a_known_gate() -> None:
    for row in CATALOG.values():
        assert row.marker in BARE_MARKERS, row
        assert row.hitl_gate is None or row.hitl_gate in GATES, row
        assert row.contract.startswith("§"), row


def test_the_hardening_rules_and_cases_are_the_same_catalogued_ids_in_one_order() -> None:
    case_ids = [rule_id for rule_id, _ in CASES]
    assert list(RULES) == case_ids
    assert all(RULES[rule_id] is CATALOG[rule_id] for rule_id in case_ids)


def test_the_checks_judge_the_catalogued_rows() -> None:
    used = {
        fuzzing.RULE: "HDR-06",
        ttl.TTL_RULE: "IDEM-13",
        cookies.CK_ATTRIBUTES: "CK-29",
        cookies.CK_LIFETIME: "CK-30",
        cookies.CK_DOMAIN: "CK-31",
        cookies.CK_DRILL: "CK-29-DRILL",
        provider.OIDC_DISCOVERY: "OIDC-34",
        provider.OIDC_JWKS: "OIDC-35",
        tokens.OIDC_FORGED: "OIDC-36",
        tokens.OIDC_ROTATION: "OIDC-37",
        provider.OIDC_REDIRECT: "OIDC-38",
        schema.TEL01: "TEL-01",
        sampling.TEL02: "TEL-02",
        dedupe.TEL03: "TEL-03",
        prod_guard.PRD_39: "PRD-39",
    }
    for row, rule_id in used.items():
        assert row is CATALOG[rule_id]


def test_only_checks_that_send_no_write_are_prod_safe() -> None:
    """... and the compliance checks that write only as the synthetic identities the
    production guard allows (§5, §14); COPPA signs up other names of the namespace."""
    compliance = {"PII-01", "PII-02", "FERPA-01", "INT-01", "INT-02"}
    prod_safe = {r.rule_id for r in CATALOG.values() if r.prod_safe}
    # B2C-13: the named identities' journeys, synthetic in every respect, behind prod_write
    assert prod_safe == {"OIDC-35", "PRD-39", "PRD-41", "B2C-13", *compliance}
    marked = {r.rule_id for r in CATALOG.values() if r.marker == "compliance"}
    assert marked == {*compliance, "COPPA-01", "COPPA-02"}
    assert {r.rule_id: r.hitl_gate for r in CATALOG.values() if r.hitl_gate} == {
        "CK-29-DRILL": "oidc_cookie_policy",
        "OIDC-37": "secret_rotation",
        "B2C-13": "prod_write",
    }


SUITES = Path(__file__).parents[2] / "suites"
DECLARED_RULES = """
import json
from secondconf.pytest_plugin import markers

def pytest_collection_finish(session):
    declared = {}
    for item in session.items:
        for rule_id in markers.validate(item.iter_markers()).rules:
            declared.setdefault(rule_id, []).append(item.nodeid)
    with open("declared.json", "w") as out:
        json.dump(declared, out)
"""


def test_the_suites_declare_every_catalogued_rule_as_the_catalogue_says(
    pytester: pytest.Pytester,
) -> None:
    """Every row has a suite test that declares it (marks validated against the row), and
    the suites declare nothing else: a rule cannot be catalogued and never run."""
    pytester.makepyfile(declared_rules=DECLARED_RULES)
    result = pytester.runpytest_subprocess(
        "--collect-only", "-q", "-p", "declared_rules", "-p", "no:cacheprovider", str(SUITES)
    )
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    declared = json.loads((pytester.path / "declared.json").read_text())
    assert sorted(declared) == sorted(CATALOG)
    assert len(declared["IDEM-13"]) == 2  # through clock control, or waiting the real TTL
