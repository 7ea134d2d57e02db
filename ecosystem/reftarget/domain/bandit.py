"""A7's CTA bandit: Thompson sampling over Beta posteriors, and the impression reward.

Why Thompson sampling: it explores in proportion to how plausible each arm still is, so it
needs no tuning and converges to the better CTA. The contract (§8) fixes the reward and the
``GET /v1/bandit/config`` shape; this module is the policy behind both.

Update rule (§8, pinned because the harness and the logged propensities depend on it):
the reward r in [−0.4, 1] is rescaled to ``p = (r + 0.4) / 1.4`` in [0, 1], never clipped,
and counted as one Bernoulli trial with success probability p (Agrawal & Goyal's
Thompson sampling for rewards in [0, 1]): ``α += s, β += 1 − s`` with ``s ~ Bernoulli(p)``
drawn from the injected ``rng``. Every update adds exactly one observation, and a complaint
lowers an arm: a complaint alone (p = 0) is always a failure, where an impression with no
outcome at all (p ≈ 0.29) sometimes succeeds. Clipping would make the two the same.

Propensity and config: ``arm_weights[a]`` is the probability that ``choose()`` returns
``a`` under the current posteriors (Thompson sampling picks the argmax of one draw per arm,
so it is P(a's draw is the highest)): the propensity of every decision made now. It is
computed by numerical integration (:func:`selection_probabilities`), a pure function of the
posteriors accurate to 1e-9, so asking twice gives the same answer and the config changes
only when an update changes the posteriors. ``exploration_rate = 1 − max(arm_weights)``:
the probability that the next choice is not the arm currently believed best.
"""

from __future__ import annotations

import json
import math
import os
import random
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from reftarget.clock import Clock, SystemClock
from reftarget.domain.instants import parse_instant, rfc3339, utc_now
from reftarget.domain.records import Emitted
from reftarget.domain.storage import Database, DbLike, as_database

__all__ = [
    "REWARD_MAX",
    "REWARD_MIN",
    "BanditStore",
    "BanditUpdate",
    "Choice",
    "Posterior",
    "PublishedConfig",
    "SqliteBanditStore",
    "ThompsonBandit",
    "reward",
    "selection_probabilities",
    "success_probability",
]

_PAGE_VIEW = Decimal("0.05")
_LEAD = Decimal("0.3")
_CHECKOUT = Decimal("0.65")
_COMPLAINT = Decimal("-0.4")

REWARD_MIN = -0.4
"""The lowest reward an impression can earn (a complaint and nothing else)."""
REWARD_MAX = 1.0
"""The highest (page view, lead and checkout, no complaint)."""

_TAIL = 1e-13
"""Posterior mass left out at each end of an arm's integration range (see below)."""


def _indicator(name: str, value: bool | int) -> int:
    # An impression either had the outcome or not; a count of 2 would break the bounds.
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and value in (0, 1):
        return value
    raise ValueError(f"{name} must be a bool or 0/1, got {value!r}")


def reward(
    page_view: bool | int, lead: bool | int, checkout: bool | int, complaint: bool | int
) -> float:
    """The reward of one impression: ``0.05·pv + 0.3·lead + 0.65·checkout − 0.4·complaint``.

    Summed in Decimal so that e.g. lead + checkout is exactly 0.95, not 0.9500000000000001.
    """
    total = (
        _PAGE_VIEW * _indicator("page_view", page_view)
        + _LEAD * _indicator("lead", lead)
        + _CHECKOUT * _indicator("checkout", checkout)
        + _COMPLAINT * _indicator("complaint", complaint)
    )
    return float(total)


def success_probability(reward: float) -> float:
    """The reward rescaled to [0, 1] as ``(r + 0.4) / 1.4`` (§8): never clipped.

    Exact in Decimal (0.3 maps to 0.5, not 0.49999999999999994). A reward outside
    [−0.4, 1] is refused: no impression can earn it, so it is a caller's bug.
    """
    value = float(reward)
    if not math.isfinite(value) or not REWARD_MIN <= value <= REWARD_MAX:
        raise ValueError(f"reward must be a number in [{REWARD_MIN}, {REWARD_MAX}], got {reward!r}")
    low, high = Decimal(repr(REWARD_MIN)), Decimal(repr(REWARD_MAX))
    return float((Decimal(repr(value)) - low) / (high - low))


def selection_probabilities(posteriors: Sequence[Posterior]) -> list[float]:
    """P(arm i's draw is the highest) for each arm: Thompson sampling's propensities.

    ``P_i = ∫ f_i(x) · Π_{j≠i} F_j(x) dx`` (f a Beta density, F a Beta CDF), integrated by
    adaptive Gauss–Kronrod quadrature (scipy's QUADPACK ``quad``) over arm i's posterior
    without its outer 1e-13 tails, split where the other arms' CDFs rise. Deterministic (no
    sampling), and within 1e-9 of the exact value: the tests hold it to the closed form for
    two arms within 1e-10. The results are normalised to sum to 1 (what the tails and the
    quadrature leave is about 1e-12).
    """
    if len(posteriors) == 1:
        return [1.0]
    raw = [
        _integral_of_being_best(post, [q for j, q in enumerate(posteriors) if j != i])
        for i, post in enumerate(posteriors)
    ]
    total = math.fsum(raw)
    return [min(1.0, max(0.0, value / total)) for value in raw]


def _integral_of_being_best(post: Posterior, others: Sequence[Posterior]) -> float:
    # Imported here, not at the top: every app imports the domain package, and scipy (with
    # numpy) was about 0.8 s of the 1.4 s of CPU an app takes to start (its restart's
    # burst on the cores its neighbours share); only A7 computes these integrals.
    from scipy import integrate, special

    a, b = post.alpha, post.beta
    low = float(special.betaincinv(a, b, _TAIL))
    high = float(special.betaincinv(a, b, 1.0 - _TAIL))
    log_norm = float(special.betaln(a, b))

    def integrand(x: float) -> float:
        if not 0.0 < x < 1.0:
            return 0.0
        density = math.exp((a - 1.0) * math.log(x) + (b - 1.0) * math.log1p(-x) - log_norm)
        below = 1.0
        for other in others:
            below *= float(special.betainc(other.alpha, other.beta, x))
        return density * below

    rises = {
        float(special.betaincinv(o.alpha, o.beta, q)) for o in others for q in (1e-3, 0.5, 0.999)
    }
    points = sorted(x for x in rises if low < x < high)
    value, _error = integrate.quad(
        integrand, low, high, points=points or None, epsabs=1e-13, epsrel=1e-11, limit=500
    )
    return float(value)


@dataclass(frozen=True)
class Choice:
    """One Thompson-sampling decision: the arm shown and the probability it had."""

    arm: str
    propensity: float


@dataclass(frozen=True)
class Posterior:
    """Beta(alpha, beta) belief about an arm's success rate; starts at the uniform (1, 1)."""

    alpha: float = 1.0
    beta: float = 1.0

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)


@dataclass(frozen=True)
class PublishedConfig:
    """The config last published: weights and when they last changed."""

    arm_weights: dict[str, float]
    exploration_rate: float
    updated_at: datetime

    def as_json(self) -> dict[str, Any]:
        """The ``GET /v1/bandit/config`` body."""
        return self.figures() | {"updated_at": rfc3339(self.updated_at)}

    def figures(self) -> dict[str, Any]:
        """The ``bandit_config`` event's ``data`` (§6, §8)."""
        return {"arm_weights": dict(self.arm_weights), "exploration_rate": self.exploration_rate}


@dataclass(frozen=True)
class BanditUpdate:
    """What one update did. ``emitted`` holds ``bandit_config`` iff the config changed.

    ``applied`` is the rescaled reward (the success probability), ``success`` the Bernoulli
    draw counted, ``propensity`` the probability that Thompson sampling picks ``arm`` under
    the posteriors just before this update (what an audit of the reward needs).
    """

    arm: str
    reward: float
    applied: float
    success: bool
    propensity: float
    posterior: Posterior
    config_changed: bool
    config: dict[str, Any]
    emitted: tuple[Emitted, ...]


class BanditStore(Protocol):
    """Where posteriors and the published config live between restarts."""

    def load(self) -> tuple[dict[str, Posterior], PublishedConfig | None]:
        """Stored posteriors (any arms) and the last published config, if any."""
        ...

    def save(self, arm: str | None, posterior: Posterior | None, config: PublishedConfig) -> None:
        """Atomically store one arm's posterior (if given) and the published config."""
        ...


class SqliteBanditStore:
    """Posteriors in ``a7_bandit_arms``, the published config in ``a7_bandit_config``.

    ``name`` separates bandits sharing a database (one per page family, say).
    """

    def __init__(self, db: DbLike, name: str = "cta") -> None:
        self._db: Database = as_database(db)
        self._name = name
        self._db.ensure_schema(
            [
                "CREATE TABLE IF NOT EXISTS a7_bandit_arms ("
                " bandit TEXT NOT NULL, arm TEXT NOT NULL, alpha REAL NOT NULL,"
                " beta REAL NOT NULL, PRIMARY KEY (bandit, arm))",
                "CREATE TABLE IF NOT EXISTS a7_bandit_config ("
                " bandit TEXT PRIMARY KEY, arm_weights TEXT NOT NULL,"
                " exploration_rate REAL NOT NULL, updated_at TEXT NOT NULL)",
            ]
        )

    def load(self) -> tuple[dict[str, Posterior], PublishedConfig | None]:
        rows = self._db.query(
            "SELECT arm, alpha, beta FROM a7_bandit_arms WHERE bandit = ?", (self._name,)
        )
        posteriors = {str(arm): Posterior(float(a), float(b)) for arm, a, b in rows}
        row = self._db.query_one(
            "SELECT arm_weights, exploration_rate, updated_at FROM a7_bandit_config"
            " WHERE bandit = ?",
            (self._name,),
        )
        config = None
        if row is not None:
            weights = {str(k): float(v) for k, v in json.loads(row[0]).items()}
            config = PublishedConfig(weights, float(row[1]), parse_instant(row[2]))
        return posteriors, config

    def save(self, arm: str | None, posterior: Posterior | None, config: PublishedConfig) -> None:
        with self._db.transaction() as conn:
            if arm is not None and posterior is not None:
                conn.execute(
                    "INSERT INTO a7_bandit_arms (bandit, arm, alpha, beta) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (bandit, arm) DO UPDATE SET alpha = excluded.alpha,"
                    " beta = excluded.beta",
                    (self._name, arm, posterior.alpha, posterior.beta),
                )
            conn.execute(
                "INSERT INTO a7_bandit_config (bandit, arm_weights, exploration_rate, updated_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (bandit) DO UPDATE SET"
                " arm_weights = excluded.arm_weights,"
                " exploration_rate = excluded.exploration_rate, updated_at = excluded.updated_at",
                (
                    self._name,
                    json.dumps(config.arm_weights, sort_keys=True),
                    config.exploration_rate,
                    rfc3339(config.updated_at),
                ),
            )


class ThompsonBandit:
    """Beta–Bernoulli Thompson sampling over named arms (see the module docstring).

    ``rng`` drives ``choose()`` and the Bernoulli draw of each update (inject a seeded one
    in tests). ``store`` is a
    :class:`BanditStore`, or a database (connection/path) for a ``SqliteBanditStore("cta")``;
    ``None`` keeps everything in memory. ``clock`` stamps ``updated_at``.
    """

    def __init__(
        self,
        arms: Sequence[str],
        rng: random.Random,
        store: BanditStore | DbLike | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        arm_list = list(arms)
        if not arm_list:
            raise ValueError("a bandit needs at least one arm")
        if len(set(arm_list)) != len(arm_list):
            raise ValueError(f"arm names must be unique, got {arm_list}")
        if any(not isinstance(a, str) or not a for a in arm_list):
            raise ValueError("arm names must be non-empty strings")
        self._arms = arm_list
        self._rng = rng
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._lock = threading.Lock()
        self._store: BanditStore | None
        if store is None:
            self._store = None
        elif isinstance(store, Database | sqlite3.Connection | str | os.PathLike):
            self._store = SqliteBanditStore(store)
        else:
            self._store = store
        stored: dict[str, Posterior] = {}
        published: PublishedConfig | None = None
        if self._store is not None:
            stored, published = self._store.load()
        # Stored arms no longer offered are ignored (kept on disk); new arms start at (1, 1).
        self._posteriors = {arm: stored.get(arm, Posterior()) for arm in arm_list}
        weights, exploration = self._estimate()
        if published is not None and published.arm_weights == weights:
            self._config = published
        else:
            self._config = PublishedConfig(weights, exploration, utc_now(self._clock))
            if self._store is not None:
                self._store.save(None, None, self._config)

    @property
    def arms(self) -> list[str]:
        return list(self._arms)

    def posteriors(self) -> dict[str, Posterior]:
        """A snapshot of every arm's posterior."""
        with self._lock:
            return dict(self._posteriors)

    def choose(self, *, uniform: bool = False) -> Choice:
        """Draw once from each arm's posterior; the arm with the highest draw, and the
        probability it had of being chosen (its current weight).

        ``uniform`` is a fault (A7's ``bandit_uniform``): the arm is picked uniformly,
        ignoring the posteriors, while the logged propensity stays the weight.
        """
        with self._lock:
            if uniform:
                arm = self._rng.choice(self._arms)
                return Choice(arm, self._config.arm_weights[arm])
            best_arm = self._arms[0]
            best_draw = -1.0
            for arm in self._arms:
                post = self._posteriors[arm]
                draw = self._rng.betavariate(post.alpha, post.beta)
                if draw > best_draw:
                    best_arm, best_draw = arm, draw
            return Choice(best_arm, self._config.arm_weights[best_arm])

    def update(self, arm: str, reward: float, *, clip: bool = False) -> BanditUpdate:
        """Count ``reward``, rescaled to [0, 1], as one Bernoulli trial of ``arm``.

        Raises ValueError for an unknown arm or a reward outside [−0.4, 1]. Persists before
        the in-memory state changes, so a failed write leaves both as they were. ``clip``
        is a fault (A7's ``reward_rescale`` off): the reward is clipped to [0, 1] instead
        of rescaled, so a complaint barely lowers an arm.
        """
        if arm not in self._posteriors:
            raise ValueError(f"unknown arm {arm!r}; arms are {self._arms}")
        value = float(reward)
        applied = success_probability(value)
        if clip:
            applied = min(1.0, max(0.0, value))
        with self._lock:
            propensity = self._config.arm_weights[arm]
            success = self._rng.random() < applied
            hit = 1.0 if success else 0.0
            old = self._posteriors[arm]
            new = Posterior(old.alpha + hit, old.beta + (1.0 - hit))
            candidate = {**self._posteriors, arm: new}
            weights, exploration = self._estimate(candidate)
            changed = weights != self._config.arm_weights
            config = (
                PublishedConfig(weights, exploration, utc_now(self._clock))
                if changed
                else self._config
            )
            if self._store is not None:
                self._store.save(arm, new, config)
            self._posteriors = candidate
            self._config = config
        figures = config.figures()
        emitted = (Emitted("bandit_config", figures, config.updated_at),) if changed else ()
        return BanditUpdate(
            arm, value, applied, success, propensity, new, changed, config.as_json(), emitted
        )

    def config(self) -> dict[str, Any]:
        """``{"arm_weights", "exploration_rate", "updated_at"}``; unchanged until an update."""
        with self._lock:
            return self._config.as_json()

    def _estimate(
        self, posteriors: Mapping[str, Posterior] | None = None
    ) -> tuple[dict[str, float], float]:
        """Each arm's probability of being chosen, and the exploration rate."""
        source = self._posteriors if posteriors is None else posteriors
        chances = selection_probabilities([source[a] for a in self._arms])
        weights = dict(zip(self._arms, chances, strict=True))
        return weights, 1.0 - max(chances)
