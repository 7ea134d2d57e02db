"""Anytime-valid sequential test for a failure probability (Wald's SPRT as an e-process).

A fixed-n bound is valid for one look. Checking it again and again while requests arrive
and stopping at the first PASS raises the false-PASS rate (about 20 % instead of 5 % with
30 looks over a 15-minute window). The likelihood-ratio test here may be checked after
every request and stopped at any time, and the error bound still holds.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["SequentialBernoulliTest", "SequentialDecision", "SequentialMonitor"]

SequentialDecision = Literal["PASS", "FAIL", "CONTINUE"]


@dataclass(frozen=True)
class SequentialBernoulliTest:
    """Sequential likelihood-ratio test of a failure probability p against ``threshold`` (p0).

    Two one-sided tests run side by side, each at level ``alpha``:

    * PASS side: H0 p >= p0 against ``pass_alternative`` p1 < p0 (default p0 / 2).
      ``Λn = (p1/p0)**k * ((1-p1)/(1-p0))**(n-k)``; PASS once ``Λn >= 1/alpha``.
    * FAIL side: H0 p <= p0 against ``fail_alternative`` p1' > p0 (default 2·p0, or
      halfway from p0 to 1 when 2·p0 would not stay below 1); FAIL once ``Λ'n >= 1/alpha``.

    Why it is valid: under every p >= p0 each factor of Λn has expectation <= 1, so Λn is a
    nonnegative supermartingale with Λ0 = 1. Ville's inequality then gives
    ``P(sup_n Λn >= 1/alpha) <= alpha``: the false-PASS probability is at most alpha at
    *any* stopping time, including "check after every request and stop at the first
    decision". The same argument bounds false FAIL under every p <= p0.

    The alternatives set the speed, not the validity: with p0 = 1 % and p1 = 0.5 %, a clean
    stream PASSes after 595 requests at alpha = 0.05.
    """

    threshold: float
    alpha: float = 0.05
    pass_alternative: float | None = None
    fail_alternative: float | None = None
    # Per-observation log-likelihood-ratio increments, fixed at construction.
    _pass_on_failure: float = field(init=False, repr=False, compare=False)
    _pass_on_success: float = field(init=False, repr=False, compare=False)
    _fail_on_failure: float = field(init=False, repr=False, compare=False)
    _fail_on_success: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be strictly between 0 and 1, got {self.alpha!r}")
        p0 = self.threshold
        if not 0.0 < p0 < 1.0:
            raise ValueError(f"threshold must be strictly between 0 and 1, got {p0!r}")
        p1 = p0 / 2 if self.pass_alternative is None else self.pass_alternative
        p1f = min(2 * p0, (1 + p0) / 2) if self.fail_alternative is None else self.fail_alternative
        if not 0.0 < p1 < p0:
            raise ValueError(f"pass_alternative must be in (0, threshold={p0}), got {p1!r}")
        if not p0 < p1f < 1.0:
            raise ValueError(f"fail_alternative must be in (threshold={p0}, 1), got {p1f!r}")
        set_ = object.__setattr__  # the dataclass is frozen; fill in the resolved values once
        set_(self, "pass_alternative", p1)
        set_(self, "fail_alternative", p1f)
        set_(self, "_pass_on_failure", math.log(p1 / p0))
        set_(self, "_pass_on_success", math.log1p(-p1) - math.log1p(-p0))
        set_(self, "_fail_on_failure", math.log(p1f / p0))
        set_(self, "_fail_on_success", math.log1p(-p1f) - math.log1p(-p0))

    @property
    def log_boundary(self) -> float:
        """``log(1/alpha)``: either log-likelihood ratio reaching it stops the test."""
        return -math.log(self.alpha)

    def log_lr_pass(self, failures: int, trials: int) -> float:
        """``log Λn = k·log(p1/p0) + (n-k)·log((1-p1)/(1-p0))``: evidence that p < p0."""
        failures, trials = _check_counts(failures, trials)
        return failures * self._pass_on_failure + (trials - failures) * self._pass_on_success

    def log_lr_fail(self, failures: int, trials: int) -> float:
        """``log Λ'n`` with p1' in place of p1: evidence that p > p0."""
        failures, trials = _check_counts(failures, trials)
        return failures * self._fail_on_failure + (trials - failures) * self._fail_on_success

    def decide(self, failures: int, trials: int) -> SequentialDecision:
        """PASS or FAIL once the matching likelihood ratio reaches ``1/alpha``, else CONTINUE.

        The two cannot hold at once: PASS needs an observed failure rate below a point
        between p1 and p0, FAIL one above a point between p0 and p1'.
        """
        if self.log_lr_pass(failures, trials) >= self.log_boundary:
            return "PASS"
        if self.log_lr_fail(failures, trials) >= self.log_boundary:
            return "FAIL"
        return "CONTINUE"

    def min_trials_to_pass(self, failures: int = 0) -> int:
        """Fewest trials containing ``failures`` failures at which the test PASSes.

        E.g. 595 for p0 = 1 %, p1 = 0.5 %, alpha = 0.05 and no failures; each failure costs
        about 138 more clean trials.
        """
        failures = operator.index(failures)
        if failures < 0:
            raise ValueError(f"failures must be >= 0, got {failures}")
        needed = self.log_boundary - failures * self._pass_on_failure
        trials = failures + max(0, math.ceil(needed / self._pass_on_success))
        # The closed form can be one off through rounding; settle it with decide()'s own test.
        while self.log_lr_pass(failures, trials) < self.log_boundary:
            trials += 1
        while trials > failures and self.log_lr_pass(failures, trials - 1) >= self.log_boundary:
            trials -= 1
        return trials


class SequentialMonitor:
    """Feeds a stream of outcomes to a :class:`SequentialBernoulliTest` and latches the result.

    The decision taken at the stopping time is final. Observations after it are ignored, so
    ``failures`` and ``trials`` stay the evidence for that decision:
    ``test.decide(failures, trials) == decision`` always holds.
    """

    def __init__(self, test: SequentialBernoulliTest) -> None:
        self._test = test
        self._failures = 0
        self._trials = 0
        self._decision: SequentialDecision = "CONTINUE"

    def observe(self, failed: bool) -> SequentialDecision:
        """Record one trial (ignored once stopped); returns the latched decision."""
        if self._decision == "CONTINUE":
            self._trials += 1
            self._failures += bool(failed)
            self._decision = self._test.decide(self._failures, self._trials)
        return self._decision

    @property
    def test(self) -> SequentialBernoulliTest:
        return self._test

    @property
    def failures(self) -> int:
        """Failures counted, up to the stopping time."""
        return self._failures

    @property
    def trials(self) -> int:
        """Trials counted, up to the stopping time."""
        return self._trials

    @property
    def decision(self) -> SequentialDecision:
        return self._decision

    @property
    def stopped_at(self) -> int | None:
        """1-based trial index at which the decision was reached, or None while CONTINUE."""
        return None if self._decision == "CONTINUE" else self._trials

    def __repr__(self) -> str:
        return (
            f"SequentialMonitor({self._test!r}, failures={self._failures}, "
            f"trials={self._trials}, decision={self._decision!r})"
        )


def _check_counts(failures: int, trials: int) -> tuple[int, int]:
    failures, trials = operator.index(failures), operator.index(trials)
    if trials < 0:
        raise ValueError(f"trials must be >= 0, got {trials}")
    if not 0 <= failures <= trials:
        raise ValueError(f"failures must be between 0 and trials={trials}, got {failures}")
    return failures, trials
