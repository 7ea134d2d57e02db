"""Fault switches (contract §9): what ``/_admin/faults`` can change in one app process.

The state lives in memory, so a restart clears it (a real incident ends with a redeploy
too). Where a fraction is involved the decision is a pure function of the trace id (a
salted sha256, independent of the telemetry sampler's low-64-bit rule), so a test that
knows its trace ids knows which requests fail, and a replay of the same trace fails alike.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field

from reftarget.core.clock import TargetClock

DISABLEABLE_RULES: tuple[str, ...] = (
    "require_428",  # off: a mutation without the headers goes through
    "dedupe",  # off: every request runs, replays included
    "dedupe_without_trace",  # off: the dedupe key includes the trace id (retry = 2nd effect)
    "tenant_scope",  # off: lookups and idempotency records ignore the tenant
    "cookie_attributes",  # off: session cookies lose Secure and SameSite=None
    "jwks_refetch",  # off: token verification uses a frozen JWKS (no refetch on a new kid)
    "fee_rounding",  # off: A6's 3 % fee is truncated instead of rounded half up
    "a8_dedupe",  # off (A8): every copy of an event is stored, no (event, key, trace) dedupe
    "event_schema",  # off (A8): events are stored without their p95_ms field
    # activation and learning (issue 12)
    "activation_once",  # off (A5): every activation emits activation_first_use again
    "credit_billed",  # off (A5): a spend debits the work's cost, not its billed amount (4x)
    "cta_emitted",  # off (A7): a landing-page view emits no cta_emitted
    "reward_rescale",  # off (A7): the bandit clips the reward to [0, 1] instead of rescaling
    "bandit_uniform",  # off (A7): the bandit picks arms uniformly, ignoring its posteriors
    # monetization (issue 11)
    "markup",  # off (A4, A6): A4 work is billed at its cost, not at 4x
    "sku_resolve_lock",  # off (A2): every micro SKU resolve creates a Price (as a lost race)
    "lineage_stripe_object",  # off (A2, A6): revenue_settled names no Stripe object
    "lineage_amount",  # off (A2, A6): revenue_settled reports 1 cent more than was charged
    "synthetic_apart",  # off (A8): the revenue tiles count synthetic revenue as real
    # compliance (issue 14, contract §14)
    "pii_minimization",  # off (A5): credit_decrement carries the typed prompt and user agent
    "ferpa_scope",  # off (A4): a work item is read by any student of its tenant, not its own
    "academic_integrity",  # off (A4): work meant to be handed in as graded work is done
    # error correction and autonomy (issue 12, contract §12-§13)
    "retry_jitter",  # off (A5): a retry waits its whole backoff ceiling, no jitter
    "retry_cap",  # off (A5): the backoff keeps doubling past its cap
    "breaker_opens",  # off (A5): the circuit breaker counts failures but never opens
    "cycle_auto_heal",  # off (A3): a failed cycle attempt is not retried (the run fails)
    "cycle_progress",  # off (A3): cycles stop progressing, so runs stall
    # the B2C funnel (issue 10; docs/reference-target.md says what each one breaks)
    "funnel_headers",  # off: funnel-step mutations take no X-Idempotency-Key/X-Trace-Id rule
    "cookie_ttl_domain",  # off (A1): the session cookie lives 60 s, not the map's TTL
    "redirect_uri_exact",  # off (A5): the callback redeems its code with a redirect_uri variant
    "attribution_mapping",  # off (A3): a conversion is answered 201 but attributed to no arm
    "approved_test_card",  # off (A2): checkouts charge the declining test card
    "coppa_age_gate",  # off (A1): an under-13 sign-up without parental consent is accepted
    # cold starts (issue 11, contract §13); a cold start keeps it (see COLD_START_KEEPS)
    "warmers",  # off: a cold start skips its warm-up, so the first request runs it
)
COLD_START_KEEPS: tuple[str, ...] = ("warmers",)
"""Switches a cold start carries over (deployment configuration, not request-path state)."""

_FAULT_SALT = b"reftarget-fault:"


class FaultValidationError(ValueError):
    """The body of ``POST /_admin/faults`` names an unknown field or a bad value."""


@dataclass(frozen=True)
class FaultSettings:
    """The switches; the defaults are a healthy app."""

    error_503_fraction: float = 0.0
    added_latency_ms: float = 0.0
    telemetry_drop_fraction: float = 0.0
    ready_fails: bool = False
    clock_offset_s: float = 0.0
    disabled_rules: frozenset[str] = field(default_factory=frozenset)


_FRACTIONS = ("error_503_fraction", "telemetry_drop_fraction")
_NON_NEGATIVE = ("added_latency_ms", "cold_start_s")
SETTABLE_FIELDS = (*FaultSettings.__dataclass_fields__, "cold_start_s")


def fault_draw(trace_id: str) -> float:
    """A number in [0, 1) fixed by the trace id; a request fails when it is below the fraction."""
    digest = hashlib.sha256(_FAULT_SALT + trace_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FaultValidationError(f"{name} must be a finite number")
    return float(value)


def _validated(changes: Mapping[str, object]) -> dict[str, object]:
    unknown = sorted(set(changes) - set(SETTABLE_FIELDS))
    if unknown:
        raise FaultValidationError(
            f"unknown fault field(s) {unknown}; valid fields: {list(SETTABLE_FIELDS)}"
        )
    clean: dict[str, object] = {}
    for name, value in changes.items():
        if name in _FRACTIONS:
            number = _number(name, value)
            if not 0.0 <= number <= 1.0:
                raise FaultValidationError(f"{name} must be between 0 and 1")
            clean[name] = number
        elif name in _NON_NEGATIVE:
            number = _number(name, value)
            if number < 0:
                raise FaultValidationError(f"{name} must not be negative")
            clean[name] = number
        elif name == "clock_offset_s":
            clean[name] = _number(name, value)
        elif name == "ready_fails":
            if not isinstance(value, bool):
                raise FaultValidationError("ready_fails must be true or false")
            clean[name] = value
        else:  # disabled_rules
            if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
                raise FaultValidationError("disabled_rules must be a list of rule names")
            bad = sorted(set(value) - set(DISABLEABLE_RULES))
            if bad:
                raise FaultValidationError(
                    f"disabled_rules: unknown rule(s) {bad}; valid rules: {list(DISABLEABLE_RULES)}"
                )
            clean[name] = frozenset(value)
    return clean


class Faults:
    """The fault state of one app; setting a switch also applies its side effect."""

    def __init__(
        self,
        clock: TargetClock,
        set_telemetry_drop_fraction: Callable[[float], None],
        *,
        cold_start_s: float = 0.0,
        disabled_rules: frozenset[str] = frozenset(),
    ) -> None:
        self._clock = clock
        self._set_drop = set_telemetry_drop_fraction
        _validated({"disabled_rules": sorted(disabled_rules)})  # unknown rules: refused
        self.settings = FaultSettings(disabled_rules=frozenset(disabled_rules))
        # With warmers the warm-up runs before /ready turns 200; without, the first request
        # after the cold start runs it (start_lazy_warmup) and waits for it.
        lazy = not self.rule_enabled("warmers")
        self._warm_at = time.monotonic() + (0.0 if lazy else cold_start_s)
        self._lazy_warmup_s = cold_start_s if lazy else 0.0

    def update(self, changes: Mapping[str, object]) -> FaultSettings:
        """Merge ``changes`` into the current settings (fields not named keep their value)."""
        clean = _validated(changes)
        cold_start_s = clean.pop("cold_start_s", None)
        merged = {**asdict(self.settings), **clean}
        merged["disabled_rules"] = frozenset(merged["disabled_rules"])
        settings = FaultSettings(**merged)
        self._apply(settings)
        if isinstance(cold_start_s, float):
            self._warm_at = time.monotonic() + cold_start_s
        return settings

    def clear(self) -> None:
        """Back to a healthy app (clock offset 0, nothing dropped, warm)."""
        self._apply(FaultSettings())
        self._warm_at = time.monotonic()
        self._lazy_warmup_s = 0.0

    def _apply(self, settings: FaultSettings) -> None:
        self.settings = settings
        self._clock.set_offset(settings.clock_offset_s)
        self._set_drop(settings.telemetry_drop_fraction)

    def rule_enabled(self, rule: str) -> bool:
        """Whether a contract rule is on (every rule is, unless a fault turned it off)."""
        if rule not in DISABLEABLE_RULES:
            raise KeyError(rule)
        return rule not in self.settings.disabled_rules

    def start_lazy_warmup(self) -> None:
        """A request (not a probe) arrived: a warm-up left to it by ``warmers`` off starts now."""
        if self._lazy_warmup_s > 0:
            self._warm_at = time.monotonic() + self._lazy_warmup_s
            self._lazy_warmup_s = 0.0

    def cold_start_remaining_s(self) -> float:
        """Seconds left of a simulated cold start (0 when warm)."""
        return max(0.0, self._warm_at - time.monotonic())

    def fails_with_503(self, trace_id: str) -> bool:
        """Whether the ``error_503_fraction`` fault picks this request."""
        fraction = self.settings.error_503_fraction
        return fraction > 0.0 and fault_draw(trace_id) < fraction

    def describe(self) -> dict[str, object]:
        """The JSON shown by ``GET /_admin/faults``."""
        s = self.settings
        return {
            "error_503_fraction": s.error_503_fraction,
            "added_latency_ms": s.added_latency_ms,
            "cold_start_s": round(self.cold_start_remaining_s(), 3),
            "telemetry_drop_fraction": s.telemetry_drop_fraction,
            "ready_fails": s.ready_fails,
            "clock_offset_s": s.clock_offset_s,
            "disabled_rules": sorted(s.disabled_rules),
            "rules": list(DISABLEABLE_RULES),
        }
