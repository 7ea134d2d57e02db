"""A7's growth API as the harness drives it: synthetic pages, views, impressions, config.

The pages the harness builds ask for a bandit of their own (``"bandit": "own"``, a harness
extension of contract §8): their views and impressions never touch the bandit real pages
share, and ``GET /v1/bandit/config?page_id=…`` reads that page's weights and posteriors.
Every request is synthetic (§5) and carries the trace id the caller chose, so the caller
knows which events A8 must hold for it. An answer that is not the contract's shape is one
:class:`GrowthError` naming the request, never a traceback.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx

from secondconf.contract.traceids import TRACE_ID_HEADER, new_idempotency_key
from secondconf.target.client import synthetic_headers
from secondconf.target.identity import AccessToken
from secondconf.target.json_answer import json_object
from secondconf.target.map import SystemMap

GROWTH_APP: Final = "A7"
SIGNALS: Final = ("page_view", "lead", "checkout", "complaint")
_ARM_ATTRIBUTE = re.compile(r'data-(?:cta-)?arm="([^"]+)"')


class GrowthError(Exception):
    """A7 refused a request or answered outside the contract's shape."""


@dataclass(frozen=True)
class Page:
    """A published page the harness built."""

    page_id: str
    slug: str


@dataclass(frozen=True)
class View:
    """One landing-page view: the CTA arm A7 showed for that trace."""

    trace_id: str
    arm: str


@dataclass(frozen=True)
class BanditState:
    """A page's bandit as ``GET /v1/bandit/config?page_id=`` shows it."""

    arm_weights: Mapping[str, float]
    exploration_rate: float
    posteriors: Mapping[str, tuple[float, float]]  # arm -> (alpha, beta)

    def mean(self, arm: str) -> float:
        alpha, beta = self.posteriors[arm]
        return alpha / (alpha + beta)

    def to_dict(self) -> dict[str, Any]:
        return {
            "arm_weights": dict(self.arm_weights),
            "exploration_rate": self.exploration_rate,
            "posteriors": {a: {"alpha": p[0], "beta": p[1]} for a, p in self.posteriors.items()},
        }


class GrowthClient:
    """A7's pages, views, impressions and bandit config, as the synthetic identity of
    ``token`` (every mutation with a fresh idempotency key and the given trace id)."""

    def __init__(self, client: httpx.AsyncClient, system_map: SystemMap, token: AccessToken):
        self._client = client
        self._base = system_map.apps[GROWTH_APP].base_url
        self._token = token

    def _headers(self, trace_id: str, *, mutation: bool = True) -> dict[str, str]:
        key = new_idempotency_key() if mutation else None
        headers = synthetic_headers(self._token.subject, idempotency_key=key)
        return headers | self._token.authorization | {TRACE_ID_HEADER: trace_id}

    async def _send(
        self, method: str, path: str, trace_id: str, body: Mapping[str, Any] | None = None
    ) -> httpx.Response:
        try:
            return await self._client.request(
                method,
                self._base + path,
                json=None if body is None else dict(body),
                headers=self._headers(trace_id, mutation=body is not None),
            )
        except httpx.HTTPError as error:
            raise GrowthError(f"A7 {method} {path}: unreachable ({type(error).__name__})") from None

    async def _json(
        self, method: str, path: str, trace_id: str, body: Mapping[str, Any] | None, want: int
    ) -> dict[str, Any]:
        answer = await self._send(method, path, trace_id, body)
        if answer.status_code != want:
            raise GrowthError(f"A7 {method} {path}: HTTP {answer.status_code}, expected {want}")
        return json_object(answer, f"A7 {method} {path}", GrowthError)

    async def build_page(self, trace_id: str) -> tuple[str, str]:
        """Build a draft page with its own bandit: its id and slug."""
        slug = f"qa-{uuid.uuid4().hex[:16]}"
        body = {"slug": slug, "title": "QA synthetic page", "bandit": "own"}
        page = await self._json("POST", "/v1/pages", trace_id, body, 201)
        page_id = page.get("id")
        if not isinstance(page_id, str):
            raise GrowthError("A7 POST /v1/pages: the answer has no page id")
        if page.get("bandit") != "own":  # its impressions would train the real pages' bandit
            raise GrowthError(
                "A7 POST /v1/pages: the page did not get a bandit of its own (harness "
                "extension 'bandit': 'own'); no impression is reported on a shared bandit"
            )
        return page_id, slug

    async def publish(self, page_id: str, trace_id: str) -> bool:
        """Publish the page; whether this call changed it (``changed``)."""
        answer = await self._json("POST", f"/v1/pages/{page_id}/publish", trace_id, {}, 200)
        return answer.get("changed") is True

    async def published_page(self, trace_id: str) -> Page:
        """Build and publish a page (both under ``trace_id``)."""
        page_id, slug = await self.build_page(trace_id)
        await self.publish(page_id, trace_id)
        return Page(page_id, slug)

    async def view(self, page: Page, trace_id: str) -> View:
        """``GET /p/{slug}``: the arm shown (``X-CTA-Arm``, else the CTA's data attribute)."""
        answer = await self._send("GET", f"/p/{page.slug}", trace_id)
        if answer.status_code != 200:
            raise GrowthError(f"A7 GET /p/{page.slug}: HTTP {answer.status_code}")
        arm = answer.headers.get("x-cta-arm")
        if arm is None and (found := _ARM_ATTRIBUTE.search(answer.text)) is not None:
            arm = found.group(1)
        if not arm:
            raise GrowthError(f"A7 GET /p/{page.slug}: no CTA arm on the page")
        return View(trace_id, arm)

    async def impression(
        self, page: Page, arm: str, signals: Mapping[str, int], trace_id: str
    ) -> dict[str, Any]:
        """``POST /v1/impressions``: A7's answer (reward, applied, success, propensity…)."""
        body = {"page_id": page.page_id, "arm": arm, **{s: signals.get(s, 0) for s in SIGNALS}}
        return await self._json("POST", "/v1/impressions", trace_id, body, 201)

    async def bandit(self, page: Page, trace_id: str) -> BanditState:
        """The page's bandit: weights, exploration rate and each arm's posterior."""
        path = f"/v1/bandit/config?page_id={page.page_id}"
        answer = await self._json("GET", path, trace_id, None, 200)
        try:
            weights = {str(a): float(w) for a, w in answer["arm_weights"].items()}
            posteriors = {
                str(a): (float(p["alpha"]), float(p["beta"]))
                for a, p in answer["posteriors"].items()
            }
            return BanditState(weights, float(answer["exploration_rate"]), posteriors)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise GrowthError(
                f"A7 GET {path}: not arm_weights, exploration_rate and posteriors"
            ) from None
