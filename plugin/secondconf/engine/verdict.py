"""The verdict model: PASS, FAIL or INCONCLUSIVE, with every figure that produced it.

A verdict is a one-sided claim about a rate (``error rate < threshold``, or ``at most
1 - q of requests slower than threshold``). PASS needs a confidence bound to clear the
threshold; FAIL needs the opposite bound past it; everything else is INCONCLUSIVE, which
fails the gate like a FAIL. The judging functions here turn counts into verdicts; they
never format reports and never talk to pytest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from secondconf.core.clock import utc_iso
from secondconf.engine import stats
from secondconf.engine.sequential import SequentialBernoulliTest

DecisionMethod = Literal["wilson", "exact"]


class Outcome(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"


class Reason(StrEnum):
    """Why a verdict came out as it did (the codes every report uses)."""

    BOUND_CLEARS = "BOUND_CLEARS"  # PASS: the bound is on the good side of the threshold
    BOUND_EXCEEDS = "BOUND_EXCEEDS"  # FAIL: the opposite bound is past the threshold
    NO_DATA = "NO_DATA"
    N_BELOW_MIN = "N_BELOW_MIN"
    BOUND_STRADDLES = "BOUND_STRADDLES"
    SOURCE_CONFLICT = "SOURCE_CONFLICT"
    SOURCE_INCONCLUSIVE = "SOURCE_INCONCLUSIVE"  # combined: a source could not decide
    TELEMETRY_INCOMPLETE = "TELEMETRY_INCOMPLETE"  # A8 misses probes it must hold
    CHECK_FAILED = "CHECK_FAILED"  # a non-statistical check found a violation
    CHECK_PASSED = "CHECK_PASSED"
    HARNESS_SATURATED = "HARNESS_SATURATED"  # the harness's own delays decide it: not the target


@dataclass(frozen=True)
class Timeslice:
    """Counts for one slice (a minute by default) of the stable window."""

    start: str
    end: str
    n: int
    errors: int
    slow: int

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.n if self.n else None

    @property
    def slow_fraction(self) -> float | None:
        return self.slow / self.n if self.n else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "error_rate": self.error_rate, "slow_fraction": self.slow_fraction}


@dataclass(frozen=True)
class Window:
    """Where the samples came from in time: burn-in discarded, then the judged window."""

    start: str | None = None
    end: str | None = None
    burn_in_s: float = 0.0
    burn_in_samples: int = 0
    timeslices: tuple[Timeslice, ...] = ()

    @classmethod
    def between(cls, start: datetime, end: datetime, **kwargs: Any) -> Window:
        return cls(start=utc_iso(start), end=utc_iso(end), **kwargs)


@dataclass(frozen=True)
class Verdict:
    """One judged claim from one source, with its estimate, bounds and provenance."""

    check: str
    source: str
    outcome: Outcome
    reason: Reason
    threshold: float
    estimate: float | None
    lower: float | None
    upper: float | None
    method: str
    alpha: float
    n: int
    k: int
    window: Window = field(default_factory=Window)
    subject: str | None = None  # e.g. the app id
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASS

    def summary(self) -> str:
        """One line with the figures, as the gate summary prints it."""

        def fmt(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.6g}"

        who = f"{self.subject} " if self.subject else ""
        return (
            f"{who}{self.check} [{self.source}] {self.outcome.value} ({self.reason.value}): "
            f"estimate={fmt(self.estimate)} bounds=[{fmt(self.lower)}, {fmt(self.upper)}] "
            f"threshold={fmt(self.threshold)} method={self.method} alpha={self.alpha:g} "
            f"n={self.n} k={self.k}"
        )

    def to_dict(self) -> dict[str, Any]:
        window = asdict(self.window)
        window["timeslices"] = [s.to_dict() for s in self.window.timeslices]
        return {
            "check": self.check,
            "source": self.source,
            "subject": self.subject,
            "outcome": self.outcome.value,
            "reason": self.reason.value,
            "threshold": self.threshold,
            "estimate": self.estimate,
            "lower": self.lower,
            "upper": self.upper,
            "method": self.method,
            "alpha": self.alpha,
            "n": self.n,
            "k": self.k,
            "window": window,
            "details": dict(self.details),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        window_data = dict(data.get("window") or {})
        slices = tuple(
            Timeslice(**{k: s[k] for k in ("start", "end", "n", "errors", "slow")})
            for s in window_data.pop("timeslices", ())
        )
        return cls(
            check=data["check"],
            source=data["source"],
            subject=data.get("subject"),
            outcome=Outcome(data["outcome"]),
            reason=Reason(data["reason"]),
            threshold=data["threshold"],
            estimate=data.get("estimate"),
            lower=data.get("lower"),
            upper=data.get("upper"),
            method=data["method"],
            alpha=data["alpha"],
            n=data["n"],
            k=data["k"],
            window=Window(**window_data, timeslices=slices),
            details=data.get("details") or {},
        )


def judge_rate(
    *,
    check: str,
    source: str,
    failures: int,
    n: int,
    threshold: float,
    method: DecisionMethod = "wilson",
    confidence: float = 0.95,
    window: Window | None = None,
    subject: str | None = None,
) -> Verdict:
    """Judge the claim "failure probability < threshold" from a fixed-n sample.

    PASS iff the decision upper bound is below the threshold; FAIL iff the lower bound
    is above it; INCONCLUSIVE otherwise (``N_BELOW_MIN`` when even a clean sample of
    this size could not pass, ``BOUND_STRADDLES`` when more data could decide).
    """
    base = no_data_verdict(check, source, threshold, 1 - confidence, method, window, subject)
    if n == 0:
        return replace(base, outcome=Outcome.INCONCLUSIVE, reason=Reason.NO_DATA)
    lower, upper = stats.proportion_bounds(failures, n, method, confidence)
    figures = replace(base, estimate=failures / n, lower=lower, upper=upper, n=n, k=failures)
    if upper < threshold:
        return replace(figures, outcome=Outcome.PASS, reason=Reason.BOUND_CLEARS)
    if lower > threshold:
        return replace(figures, outcome=Outcome.FAIL, reason=Reason.BOUND_EXCEEDS)
    needed = stats.min_samples(threshold, errors=0, method=method, confidence=confidence)
    reason = Reason.N_BELOW_MIN if n < needed else Reason.BOUND_STRADDLES
    return replace(
        figures, outcome=Outcome.INCONCLUSIVE, reason=reason, details={"min_n_for_pass": needed}
    )


def judge_quantile(
    *,
    check: str,
    source: str,
    samples: Sequence[float],
    threshold: float,
    q: float = 0.95,
    confidence: float = 0.95,
    window: Window | None = None,
    subject: str | None = None,
) -> Verdict:
    """Judge "the q-quantile is at most threshold" by distribution-free order statistics.

    The upper confidence bound for the quantile is an order statistic; PASS iff it is at
    most the threshold, FAIL iff the lower one is above it. ``k`` is the count of samples
    above the threshold, the equivalent slow-count form.
    """
    base = no_data_verdict(
        check, source, threshold, 1 - confidence, "order_statistic", window, subject
    )
    n = len(samples)
    if n == 0:
        return replace(base, outcome=Outcome.INCONCLUSIVE, reason=Reason.NO_DATA)
    ordered = sorted(samples)
    slow = sum(1 for s in ordered if s > threshold)
    estimate = ordered[max(0, math.ceil(q * n) - 1)]
    lower = stats.quantile_lower_bound(ordered, q, confidence)
    upper = stats.quantile_upper_bound(ordered, q, confidence)
    figures = replace(
        base, estimate=estimate, lower=lower, upper=upper, n=n, k=slow, details={"q": q}
    )
    if upper is not None and upper <= threshold:
        return replace(figures, outcome=Outcome.PASS, reason=Reason.BOUND_CLEARS)
    if lower is not None and lower > threshold:
        return replace(figures, outcome=Outcome.FAIL, reason=Reason.BOUND_EXCEEDS)
    reason = Reason.N_BELOW_MIN if upper is None else Reason.BOUND_STRADDLES
    return replace(figures, outcome=Outcome.INCONCLUSIVE, reason=reason)


def judge_quantile_counts(
    *,
    check: str,
    source: str,
    slow: int,
    n: int,
    threshold: float,
    q: float = 0.95,
    confidence: float = 0.95,
    window: Window | None = None,
    subject: str | None = None,
) -> Verdict:
    """The slow-count form of :func:`judge_quantile`, for histogram or aggregated data."""
    base = no_data_verdict(
        check, source, threshold, 1 - confidence, "order_statistic_counts", window, subject
    )
    if n == 0:
        return replace(base, outcome=Outcome.INCONCLUSIVE, reason=Reason.NO_DATA)
    figures = replace(base, estimate=slow / n, n=n, k=slow, details={"q": q})
    decision = stats.quantile_verdict_from_counts(slow, n, q, confidence)
    if decision == "PASS":
        return replace(figures, outcome=Outcome.PASS, reason=Reason.BOUND_CLEARS)
    if decision == "FAIL":
        return replace(figures, outcome=Outcome.FAIL, reason=Reason.BOUND_EXCEEDS)
    below_min = n < stats.quantile_min_samples(q, confidence)
    reason = Reason.N_BELOW_MIN if below_min else Reason.BOUND_STRADDLES
    return replace(figures, outcome=Outcome.INCONCLUSIVE, reason=reason)


def judge_sequential(
    *,
    check: str,
    source: str,
    test: SequentialBernoulliTest,
    failures: int,
    n: int,
    decided_at: int | None = None,
    window: Window | None = None,
    subject: str | None = None,
    display_method: DecisionMethod = "wilson",
) -> Verdict:
    """Judge from an anytime-valid sequential test (likelihood-ratio e-process).

    ``failures``/``n`` are the counts at the stopping time (the first look that crossed
    a boundary, or the end of the window); the Wilson interval is shown for reading only.
    """
    base = no_data_verdict(check, source, test.threshold, test.alpha, "sprt", window, subject)
    if n == 0:
        return replace(base, outcome=Outcome.INCONCLUSIVE, reason=Reason.NO_DATA)
    lower, upper = stats.proportion_bounds(failures, n, display_method, 1 - test.alpha)
    details = {
        "log_lr_pass": test.log_lr_pass(failures, n),
        "log_lr_fail": test.log_lr_fail(failures, n),
        "boundary": math.log(1 / test.alpha),
        "pass_alternative": test.pass_alternative,
        "fail_alternative": test.fail_alternative,
        "decided_at": decided_at,
        "display_bounds": display_method,
    }
    figures = replace(
        base, estimate=failures / n, lower=lower, upper=upper, n=n, k=failures, details=details
    )
    decision = test.decide(failures, n)
    if decision == "PASS":
        return replace(figures, outcome=Outcome.PASS, reason=Reason.BOUND_CLEARS)
    if decision == "FAIL":
        return replace(figures, outcome=Outcome.FAIL, reason=Reason.BOUND_EXCEEDS)
    below_min = n < test.min_trials_to_pass(0)
    reason = Reason.N_BELOW_MIN if below_min else Reason.BOUND_STRADDLES
    return replace(figures, outcome=Outcome.INCONCLUSIVE, reason=reason)


def combine_sources(check: str, verdicts: Sequence[Verdict], subject: str | None = None) -> Verdict:
    """AND the sources: PASS iff all PASS; FAIL iff any FAILs while none PASS;
    PASS against FAIL is ``SOURCE_CONFLICT``; anything else is INCONCLUSIVE."""
    if not verdicts:
        raise ValueError("combine_sources needs at least one verdict")
    outcomes = {v.outcome for v in verdicts}
    if outcomes == {Outcome.PASS}:
        outcome, reason = Outcome.PASS, Reason.BOUND_CLEARS
    elif Outcome.PASS in outcomes and Outcome.FAIL in outcomes:
        outcome, reason = Outcome.INCONCLUSIVE, Reason.SOURCE_CONFLICT
    elif Outcome.FAIL in outcomes:
        outcome, reason = Outcome.FAIL, Reason.BOUND_EXCEEDS
    else:
        outcome, reason = Outcome.INCONCLUSIVE, Reason.SOURCE_INCONCLUSIVE
    first = verdicts[0]
    return Verdict(
        check=check,
        source="combined",
        subject=subject if subject is not None else first.subject,
        outcome=outcome,
        reason=reason,
        threshold=first.threshold,
        estimate=None,
        lower=None,
        upper=None,
        method="and(" + ",".join(v.source for v in verdicts) + ")",
        alpha=max(v.alpha for v in verdicts),
        n=sum(v.n for v in verdicts),
        k=sum(v.k for v in verdicts),
        window=first.window,
        details={v.source: v.outcome.value for v in verdicts},
    )


def no_data_verdict(
    check: str,
    source: str,
    threshold: float,
    alpha: float,
    method: str,
    window: Window | None = None,
    subject: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> Verdict:
    """INCONCLUSIVE with nothing observed: where every judge starts, and the verdict of a
    claim that could not be measured at all (``details`` say why)."""
    return Verdict(
        check=check,
        source=source,
        subject=subject,
        outcome=Outcome.INCONCLUSIVE,
        reason=Reason.NO_DATA,
        threshold=threshold,
        estimate=None,
        lower=None,
        upper=None,
        method=method,
        alpha=alpha,
        n=0,
        k=0,
        window=window or Window(),
        details=details or {},
    )
