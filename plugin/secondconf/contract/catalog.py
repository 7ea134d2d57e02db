"""The rule catalogue: one row per contract check id, the one place a rule is defined.

Each row says what the rule is (id, title, the contract section it comes from) and how
its check may run: the capability marker its test carries, whether it may run against
``prod_observe`` (``prod_safe``) and the HITL gate it waits for, if any. Checks look
their rule up here by id; suite tests declare the ids they judge
(``@pytest.mark.rules(...)``), and the release gate names a declared id that produced no
verdict instead of counting its test as a PASS. Rule ids follow the research catalogue
(``idempotency-security.md`` §a); TEL, PRD-41 and the drill are the harness's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final


@dataclass(frozen=True)
class ContractRule:
    """One rule of the contract as a check: ``rule_id`` (e.g. ``HDR-01``) and its title."""

    rule_id: str
    title: str
    contract: str  # where it is written, e.g. "§4"
    marker: str  # the capability marker of the test that runs it, e.g. "idempotency"
    prod_safe: bool = False  # its check sends nothing but GET/HEAD (or nothing)
    hitl_gate: str | None = None  # runs only behind a logged approval for this gate
    escalates: str | None = None  # the §13 escalation a FAIL of this rule pages (ESCALATIONS)

    def __post_init__(self) -> None:
        if self.escalates is not None and self.escalates not in ESCALATIONS:
            raise ValueError(f"{self.rule_id}: escalates={self.escalates!r} not in {ESCALATIONS}")

    @property
    def check(self) -> str:
        return f"{self.rule_id} {self.title}"


class UnknownRuleError(KeyError):
    """An id that is not in the catalogue."""

    def __str__(self) -> str:
        return f"{self.args[0]!r} is not a catalogued rule id (secondconf.contract.catalog)"


# Contract §13's four escalation triggers, each a kind a failing rule can page.
ESCALATIONS: Final[tuple[str, ...]] = (
    "stripe_payment_failure",  # a Stripe failure in a live payment path
    "oidc_regression",  # any OIDC or cookie check failing
    "a3_run_stalled",  # an A3 run stalled for more than 2 hours of its clock
    "schema_mismatch",  # the same schema mismatch seen more than twice (counted across runs)
)

_PHASE3: Final = "idempotency"
_B2B: Final = "funnel_b2b"
_DRL: Final = "resiliency"
_OIDC_REGRESSION: Final = "oidc_regression"  # every CK-*/OIDC-* FAIL pages (contract §13)
_ERR: Final = "resiliency"  # error correction (issue 12)
_AUT: Final = "autonomy"
_COMPLIANCE: Final = "compliance"
_B2C: Final = "funnel_b2c"

ROWS: Final = (
    # §4 headers, idempotency and tenants, on every covered route (the hardening run)
    ContractRule("HDR-01", "missing X-Idempotency-Key -> 428, no side effect", "§4", _PHASE3),
    ContractRule("HDR-02", "missing trace id -> 428, no side effect", "§4", _PHASE3),
    ContractRule("HDR-03", "both headers missing -> 428 naming both", "§4", _PHASE3),
    ContractRule("HDR-04", "malformed key or trace id -> 400, no side effect", "§4", _PHASE3),
    ContractRule("HDR-05", "GET, HEAD and OPTIONS need neither header", "§4", _PHASE3),
    ContractRule("TRC-26", "a valid traceparent supplies the trace id", "§4", _PHASE3),
    ContractRule("TRC-27", "an invalid traceparent is no trace id -> 428", "§4", _PHASE3),
    ContractRule("TRC-28", "conflicting trace headers -> 400", "§4", _PHASE3),
    ContractRule("IDEM-07", "replay: same answer, Idempotent-Replayed, one effect", "§4", _PHASE3),
    ContractRule("IDEM-09", "same key with a new trace id is a replay", "§4", _PHASE3),
    ContractRule("IDEM-10", "same key, different body -> 422, no side effect", "§4", _PHASE3),
    ContractRule("IDEM-11", "same key on another route is another request", "§4", _PHASE3),
    ContractRule("IDEM-12", "reordered JSON body is a replay", "§4", _PHASE3),
    ContractRule("IDEM-15", "N identical requests released together -> one effect", "§4", _PHASE3),
    ContractRule("TEN-22", "same key under two tenants is two requests", "§4", _PHASE3),
    ContractRule("TEN-24", "no valid token -> 401, stored answer not disclosed", "§2a", _PHASE3),
    ContractRule("TEN-25", "another tenant's resource -> 404 without its data", "§4", _PHASE3),
    ContractRule("PRD-40", "synthetic writes are tagged with the identity's tenant", "§5", _PHASE3),
    # §4 in time and by fuzzing
    ContractRule("HDR-06", "schemathesis contract checks", "§4", _PHASE3),
    ContractRule("IDEM-13", "a key is kept 15 minutes, then free again", "§4", _PHASE3),
    ContractRule("IDEM-18", "side effects = distinct keys accepted within the TTL", "§4", _PHASE3),
    # §1 the session cookie
    ContractRule(
        "CK-29",
        "Session cookie: one cookie with Secure; SameSite=None; HttpOnly; Path=/",
        "§1",
        _PHASE3,
        escalates=_OIDC_REGRESSION,
    ),
    ContractRule(
        "CK-30",
        "Session cookie: Max-Age is the session TTL (<= 400 days), Expires agrees",
        "§1",
        _PHASE3,
        escalates=_OIDC_REGRESSION,
    ),
    ContractRule(
        "CK-31",
        "Session cookie: Domain is the configured domain, or absent",
        "§1",
        _PHASE3,
        escalates=_OIDC_REGRESSION,
    ),
    ContractRule(
        "CK-29-DRILL",
        "Cookie policy drill: CK-29 catches a cookie without Secure/SameSite=None",
        "§1",
        _PHASE3,
        hitl_gate="oidc_cookie_policy",
        escalates=_OIDC_REGRESSION,
    ),
    # §2a OIDC and A1's tokens
    ContractRule(
        "OIDC-34",
        "Discovery: issuer equals the tokens' iss, jwks_uri https, RS256 and never none",
        "§2a",
        _PHASE3,
        escalates=_OIDC_REGRESSION,
    ),
    ContractRule(
        "OIDC-35",
        "JWKS hygiene: unique kids, public members only, RSA of 2048 bits or more",
        "§2a",
        _PHASE3,
        prod_safe=True,
        escalates=_OIDC_REGRESSION,
    ),
    ContractRule(
        "OIDC-36",
        "Forged tokens (alg none, HS256 with the public key, a foreign key) refused",
        "§2a",
        _PHASE3,
        escalates=_OIDC_REGRESSION,
    ),
    ContractRule(
        "OIDC-37",
        "A token signed with a rotated key is accepted by every app without a restart",
        "§2a",
        _PHASE3,
        hitl_gate="secret_rotation",
        escalates=_OIDC_REGRESSION,
    ),
    ContractRule(
        "OIDC-38",
        "redirect_uri matched exactly: every variant refused at A1",
        "§2a",
        _PHASE3,
        escalates=_OIDC_REGRESSION,
    ),
    # §6 telemetry
    ContractRule(
        "TEL-01",
        "required events in A8 with every schema field",
        "§6",
        _PHASE3,
        escalates="schema_mismatch",
    ),
    ContractRule("TEL-02", "telemetry sampled by trace id as §6 states", "§6", _PHASE3),
    ContractRule(
        "TEL-03",
        "A8 dedupe: once per (event, app_id, idempotency_key, trace_id) within 15 minutes "
        "when keyed, once per event_id otherwise",
        "§6",
        _PHASE3,
    ),
    # §5 and §2 production safety: nothing is sent to the target
    ContractRule("PRD-39", "Prod write guard", "§5", _PHASE3, prod_safe=True),
    ContractRule("PRD-41", "No secret in outputs", "§2", _PHASE3, prod_safe=True),
    # §14 compliance (checks/compliance): each acts as synthetic identities only
    ContractRule(
        "PII-01",
        "A8 holds no planted canary and no PII pattern for the run's synthetic traffic",
        "§14",
        _COMPLIANCE,
        prod_safe=True,
    ),
    ContractRule(
        "PII-02",
        "No canary and no PII pattern in reports, evidence, Allure results, target logs",
        "§14",
        _COMPLIANCE,
        prod_safe=True,
    ),
    ContractRule(
        "INT-01",
        "Graded work to hand in -> 422 academic-integrity, no charge, no credit spent",
        "§14",
        _COMPLIANCE,
        prod_safe=True,
    ),
    ContractRule(
        "INT-02", "Study help is still done and charged", "§14", _COMPLIANCE, prod_safe=True
    ),
    # COPPA signs up names the production guard does not allow (and deletes them): not
    # prod_safe, so prod_observe skips it rather than leaving it INCONCLUSIVE
    ContractRule(
        "COPPA-01",
        "Sign-up attesting age 12 without consent -> 403 coppa-age-gate, nothing stored",
        "§14",
        _COMPLIANCE,
    ),
    ContractRule("COPPA-02", "Sign-up attesting age 13 is admitted", "§14", _COMPLIANCE),
    ContractRule(
        "FERPA-01",
        "Student records read by the student only: other student, tenant, provider -> 404",
        "§14",
        _COMPLIANCE,
        prod_safe=True,
    ),
    # §7 and §11 money: billing, markup, micro SKU, revenue lineage (issue 11, phase 4;
    # checks/monetization, suites/test_monetization.py)
    ContractRule(
        "MON-01",
        "provider fee = round_half_up(gross x 3 %) at every half-cent boundary and "
        "generated amount (A6 answer and A8's provider_billed)",
        "§7",
        "monetization",
    ),
    ContractRule(
        "MON-02", "A4 work billed at 4x its cost (A4 work and A6 billing)", "§7", "monetization"
    ),
    ContractRule(
        "MON-03",
        "each catalog item's micro SKU Price is max(50, 4 x unit cost) cents USD "
        "(Stripe, by lookup key)",
        "§7",
        "monetization",
        escalates="stripe_payment_failure",
    ),
    ContractRule(
        "MON-04",
        "N concurrent resolves of a fresh lookup key leave exactly one Price",
        "§11",
        "monetization",
        escalates="stripe_payment_failure",
    ),
    ContractRule(
        "LIN-01",
        "every revenue_settled joins to one source event and one Stripe object that agree "
        "(amount, currency, metadata); A8 shows none broken",
        "§11",
        "monetization",
        escalates="stripe_payment_failure",
    ),
    ContractRule(
        "LIN-02", "synthetic revenue never counts in the real totals", "§11", "monetization"
    ),
    ContractRule(
        "LIN-03",
        "the revenue-lineage tiles show each settlement within 60 s",
        "§11",
        "monetization",
    ),
    # §10 and §11 the B2C funnel (issue 10; checks/funnels, suites/test_funnel_b2c.py)
    ContractRule(
        "B2C-01", "B2C journeys succeed >= 90 % (lower Wilson 95 %, first attempts)", "§10", _B2C
    ),
    ContractRule("B2C-02", "each B2C step succeeds >= 90 % (lower Wilson 95 %)", "§10", _B2C),
    ContractRule(
        "B2C-03",
        "the micro-checkout charges through Stripe >= 90 % (lower Wilson 95 %)",
        "§10",
        _B2C,
        escalates="stripe_payment_failure",
    ),
    ContractRule("B2C-04", "A8's funnel-status tile shows each step within 60 s", "§10", _B2C),
    ContractRule(
        "B2C-05",
        "exclusions: synthetic revenue rises by the journeys' sum, real unchanged",
        "§11",
        _B2C,
    ),
    ContractRule(
        "B2C-06",
        "each checkout's PaymentIntent agrees on amount, currency, status and metadata",
        "§11",
        _B2C,
        escalates="stripe_payment_failure",
    ),
    ContractRule(
        "B2C-07", "fix: trace and idempotency headers enforced on funnel routes", "§4", _B2C
    ),
    ContractRule("B2C-08", "fix: A1's session cookie SameSite=None; Secure; HttpOnly", "§10", _B2C),
    ContractRule(
        "B2C-09", "fix: A1's session cookie lifetime and domain as the map states", "§10", _B2C
    ),
    ContractRule(
        "B2C-10", "fix: the callback's redirect_uri and A1's JWKS work for A5", "§10", _B2C
    ),
    ContractRule(
        "B2C-11", "fix: A3 attributes the conversion to the CTA's page and arm", "§10", _B2C
    ),
    ContractRule(
        "B2C-12", "every synthetic identity the run created is deleted (GET -> 404)", "§5", _B2C
    ),
    ContractRule(
        "B2C-13",
        "prod_observe: one journey per named identity, under a prod_write approval",
        "§5",
        _B2C,
        prod_safe=True,
        hitl_gate="prod_write",
    ),
    # phase 7, resiliency drills (checks/resiliency): one app at a time, always rolled back
    ContractRule("DRL-01", "503 drill: detected, others contained, recovered in time", "§13", _DRL),
    ContractRule("DRL-02", "latency drill: detected, others contained, recovered", "§13", _DRL),
    ContractRule("DRL-03", "kill drill: detected, others contained, back in time", "§13", _DRL),
    ContractRule("DRL-04", "restart drill: detected, others contained, ready in time", "§13", _DRL),
    ContractRule("DRL-05", "cold-start drill: detected, contained, ready in time", "§13", _DRL),
    # phase 7, A3 under dependency faults (checks/resiliency/a3_under_a4.py, a3_judge.py)
    ContractRule(
        "DEP-01", "A3 under A4's 503s: cycles heal, the run goes on, healthy after", "§13", _DRL
    ),
    # phase 5, activation and growth hygiene (issue 12; checks/activation)
    ContractRule("ACT-01", "activation_first_use fires once per user", "§6", "activation"),
    ContractRule(
        "ACT-02",
        "a credit spend decrements the balance by the billed amount (cost x 4)",
        "§7",
        "activation",
    ),
    ContractRule(
        "ACT-03",
        "a page built and published emits page_build_requested, page_published once",
        "§6",
        "activation",
    ),
    ContractRule(
        "ACT-04", "each page view emits cta_emitted with its page and arm", "§6", "activation"
    ),
    ContractRule("ACT-05", "cta_impression sampled at 10 % by trace id", "§6", "activation"),
    ContractRule(
        "ACT-06",
        "A8's activation tile shows each activation and growth event within 60 s",
        "§6",
        "activation",
    ),
    # phase 6, the learning loop (issue 12; checks/learning): on a page of the check's own
    ContractRule(
        "RL-01",
        "the reward is 0.05 pv + 0.3 lead + 0.65 checkout - 0.4 complaint, exactly",
        "§8",
        "learning",
    ),
    ContractRule(
        "RL-02",
        "the reward is rescaled (r + 0.4) / 1.4, never clipped: a complaint lowers "
        "the arm's posterior",
        "§8",
        "learning",
    ),
    ContractRule(
        "RL-03",
        "impression -> reward -> posterior -> weights -> bandit_config in A8 within "
        "60 s, each chosen arm's propensity logged",
        "§8",
        "learning",
    ),
    ContractRule(
        "RL-04",
        "the bandit learns: the better arm's share rises (fixed seeds, statistical)",
        "§8",
        "learning",
    ),
    # §8 and §13 error correction (checks/error_correction): A5 -> A4 under A4's 503s
    ContractRule(
        "ERR-01", "retry delays follow full jitter (KS test), no point mass at the cap", "§13", _ERR
    ),
    ContractRule("ERR-02", "backoff doubles per retry and stops at its cap", "§13", _ERR),
    ContractRule(
        "ERR-03",
        "breaker closed -> open -> half-open (probe call) -> closed once the fault is gone",
        "§8",
        _ERR,
    ),
    ContractRule("ERR-04", "a failed A3 cycle heals itself, no human involved", "§8", _ERR),
    # §12 A3's autonomy (checks/autonomy): a run of more than 200 minutes of A3's clock
    ContractRule(
        "AUT-01", "an A3 run runs > 200 min without manual intervention, then stops", "§12", _AUT
    ),
    ContractRule(
        "AUT-02",
        "every cycle's run_progress (> 0) and orchestration_cycle_complete in A8 within 60 s",
        "§12",
        _AUT,
    ),
    ContractRule(
        "AUT-03", "a stalled A3 run is detected", "§12", _AUT, escalates="a3_run_stalled"
    ),
    ContractRule("AUT-04", "cta_emitted and page_published in A8 within 60 s", "§6", _AUT),
    ContractRule("AUT-05", "a manual intervention resets the autonomous minutes", "§12", _AUT),
    # §10 and §13 the B2B funnel (issue 11, phase 3; checks/funnels/b2b.py,
    # checks/load/a6_billing.py, checks/coldstart, suites/test_funnel_b2b.py)
    ContractRule(
        "B2B-01",
        "provider signup >= 90 % (lower Wilson 95 %, first-attempt browser journeys A7 -> A6)",
        "§10",
        _B2B,
    ),
    ContractRule(
        "B2B-02",
        "each B2B journey's events in A8 within 60 s with its trace id and synthetic tags",
        "§10",
        _B2B,
    ),
    ContractRule(
        "B2B-03",
        "a6_register_billing load: each A6 endpoint's error rate < 1 % and p95 <= 120 ms",
        "§10",
        _B2B,
    ),
    ContractRule(
        "B2B-04", "the first request after a cold start is within the SLO (warmers)", "§13", _B2B
    ),
)

CATALOG: Final[Mapping[str, ContractRule]] = MappingProxyType({r.rule_id: r for r in ROWS})


def rule_by_id(rule_id: str) -> ContractRule:
    """The catalogued rule ``rule_id``; :class:`UnknownRuleError` if there is none."""
    try:
        return CATALOG[rule_id]
    except KeyError:
        raise UnknownRuleError(rule_id) from None
