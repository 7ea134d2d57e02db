"""The compliance checks (contract §14) against a dedicated reference ecosystem: clean,
every rule PASSes; with each compliance switch off alone, exactly its check FAILs, naming
what broke; a canary planted in the evidence is caught by PII-02, never echoed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from secondconf.checks.compliance.actor import Actor
from secondconf.checks.compliance.coppa import coppa_verdicts, run_coppa
from secondconf.checks.compliance.ferpa import ferpa_verdict, run_ferpa
from secondconf.checks.compliance.integrity import integrity_verdicts, run_integrity
from secondconf.checks.compliance.minimization import check_output_pii, check_telemetry_pii
from secondconf.checks.compliance.pii import Canaries
from secondconf.engine.verdict import Outcome, Verdict
from secondconf.target.a8 import A8Client
from secondconf.target.client import harness_client

from tests.harness.conftest import HarnessTarget

# switch -> (the app it is turned off on, the rules that must FAIL with it)
CAUGHT_BY = {
    "pii_minimization": ("A5", {"PII-01"}),
    "academic_integrity": ("A4", {"INT-01"}),
    "ferpa_scope": ("A4", {"FERPA-01"}),
    "coppa_age_gate": ("A1", {"COPPA-01"}),
}


def run_checks(target: HarnessTarget, canaries: Canaries) -> dict[str, Verdict]:
    """Every compliance rule once, as the suite runs them, by rule id."""

    async def run() -> list[Verdict]:
        async with harness_client(target.map, env="embedded") as client:
            a8 = A8Client(client, target.map, target.secret("A8_TELEMETRY_KEY"))

            def actor() -> Actor:
                return Actor(client, target.map, target.secret("OIDC_CLIENT_SECRET"))

            login = target.map.browser_login
            assert login is not None
            password = target.secret(login.password_env)
            return [
                await check_telemetry_pii(actor(), a8, canaries),
                *integrity_verdicts(await run_integrity(actor(), a8)),
                *coppa_verdicts(await run_coppa(actor(), a8, login, password)),
                ferpa_verdict(await run_ferpa(actor(), login, password)),
            ]

    return {v.details["rule"]: v for v in asyncio.run(run())}


def _explain(verdict: Verdict) -> str:
    return f"{verdict.summary()} {verdict.details['violations']} {verdict.details['untested']}"


@pytest.fixture
def logs(harness_target: HarnessTarget) -> Path:
    return harness_target.eco.state_dir / "logs"


def test_a_clean_target_passes_every_rule(harness_target: HarnessTarget, logs: Path) -> None:
    canaries = Canaries.new()
    verdicts = run_checks(harness_target, canaries)
    verdicts["PII-02"] = check_output_pii([logs], canaries)
    assert sorted(verdicts) == [
        "COPPA-01", "COPPA-02", "FERPA-01", "INT-01", "INT-02", "PII-01", "PII-02"
    ]  # fmt: skip
    for verdict in verdicts.values():
        assert verdict.outcome is Outcome.PASS, _explain(verdict)
    assert verdicts["PII-01"].n >= 2  # the spend's events at least
    assert verdicts["PII-02"].n >= 8  # one log per app
    assert verdicts["INT-01"].n == 4  # two graded requests, through A5 and at A4
    assert verdicts["COPPA-01"].n == 2  # age 12, with and without the consent box ticked
    ferpa = verdicts["FERPA-01"]
    assert ferpa.details["routes"] == [
        "A4 GET /v1/work",
        "A4 GET /v1/work/{work_id}",
        "A5 GET /v1/credits",
    ]
    assert ferpa.n == 9  # three routes, each by the student, another student, a provider
    assert "a provider of another tenant" in " ".join(ferpa.details["cases"])


@pytest.mark.parametrize("switch", sorted(CAUGHT_BY))
def test_each_switch_fails_exactly_its_check(harness_target: HarnessTarget, switch: str) -> None:
    app_id, caught = CAUGHT_BY[switch]
    harness_target.set_faults(app_id, {"disabled_rules": [switch]})
    try:
        verdicts = run_checks(harness_target, Canaries.new())
    finally:
        harness_target.set_faults(app_id, {"disabled_rules": []})
    failed = {rule for rule, v in verdicts.items() if v.outcome is Outcome.FAIL}
    assert failed == caught, {rule: _explain(v) for rule, v in verdicts.items()}
    for rule, verdict in verdicts.items():
        if rule not in caught:
            assert verdict.outcome is Outcome.PASS, _explain(verdict)


def test_the_telemetry_leak_is_named_by_event_and_field_never_by_value(
    harness_target: HarnessTarget,
) -> None:
    canaries = Canaries.new()
    harness_target.set_faults("A5", {"disabled_rules": ["pii_minimization"]})
    try:
        verdict = run_checks(harness_target, canaries)["PII-01"]
    finally:
        harness_target.set_faults("A5", {"disabled_rules": []})
    violations = verdict.details["violations"]
    assert any(
        v.startswith("A8 event credit_decrement from A5") and "data.prompt: canary free text" in v
        for v in violations
    ), violations
    assert any("data.user_agent: canary user agent" in v for v in violations), violations
    assert any("data.client_ip: canary client address" in v for v in violations), violations
    text = repr(verdict.details)
    for value in (canaries.email, canaries.surname, canaries.user_agent, canaries.client_ip):
        assert value not in text


def test_a_canary_in_the_evidence_fails_pii_02(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    canaries = Canaries.new()
    (evidence / "A5_requests.json").write_text(
        f'{{"requests": [{{"headers": {{"user-agent": "{canaries.user_agent}"}}}}]}}'
    )
    verdict = check_output_pii([evidence], canaries)
    assert verdict.outcome is Outcome.FAIL
    assert verdict.details["violations"] == [
        f"{evidence / 'A5_requests.json'}: requests[0].headers.user-agent: canary user agent"
    ]
    assert check_output_pii([evidence.parent / "empty"], canaries).outcome is Outcome.PASS
