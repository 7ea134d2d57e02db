"""A7, growth: landing pages, and the CTA chosen by a Thompson-sampling bandit (§8).

A page is built (``page_build_requested``), then published (``page_published``, once).
``GET /p/{slug}`` serves a published page without a token (it is a public landing page);
each view draws the CTA arm from the bandit and emits ``cta_emitted`` with the page
owner's tenant, the viewer's trace id and ``data`` {page_id, arm, propensity}.
``POST /v1/impressions`` reports what an impression led to; its reward
(``0.05·view + 0.3·lead + 0.65·checkout − 0.4·complaint``) updates the arm. Each impression
is recorded (``a7_impressions``, and ``cta_impression`` with ``data`` {impression_id,
page_id, arm, propensity, reward}) with the arm's propensity under the posteriors of that
moment, so rewards can be audited; ``bandit_config`` (``data`` {arm_weights,
exploration_rate}) follows whenever the weights change. Any authenticated caller may report
on any published page. ``GET /v1/bandit/config`` reads the weights (§8).
One bandit serves every page (its arms are the platform's CTA set), except a page built
with ``"bandit": "own"`` (harness extension): its views and impressions drive a bandit of
its own, fresh at Beta(1, 1), so a check can make the bandit learn without touching real
pages; ``GET /v1/bandit/config?page_id=…`` reads that page's weights and posteriors.
Fault switches: ``cta_emitted`` off (views emit nothing), ``reward_rescale`` off (the
reward is clipped to [0, 1]), ``bandit_uniform`` off (arms picked uniformly).
"""

from __future__ import annotations

import html
import random
import re
import uuid
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from reftarget.apps.domain_errors import DOMAIN_ERROR_HANDLERS
from reftarget.core.app import AppDefinition, AppRuntime
from reftarget.core.auth import ResourceNotFound, fetch_for_tenant
from reftarget.core.body import InvalidBody, int_field, json_object, text_field
from reftarget.core.context import request_context
from reftarget.core.db import app_db_path
from reftarget.core.openapi import Endpoint
from reftarget.core.problem import problem_response
from reftarget.core.settings import AppSettings
from reftarget.domain import Database, SqliteBanditStore, ThompsonBandit, reward

ROLE = "growth"
CTA_TEXT: dict[str, str] = {
    "start_free_trial": "Start your free trial",
    "book_a_demo": "Book a demo",
    "get_started_now": "Get started now",
}
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")

SCHEMA = """
CREATE TABLE IF NOT EXISTS a7_pages (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    headline TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'published')),
    bandit TEXT NOT NULL DEFAULT 'shared' CHECK (bandit IN ('shared', 'own')),
    created_at TEXT NOT NULL,
    published_at TEXT
);
CREATE TABLE IF NOT EXISTS a7_impressions (
    id TEXT PRIMARY KEY,
    page_id TEXT NOT NULL,
    arm TEXT NOT NULL,
    propensity REAL NOT NULL,   -- P(Thompson sampling picks arm) just before the update
    reward REAL NOT NULL,
    success INTEGER NOT NULL,   -- the Bernoulli draw the posterior counted
    trace_id TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
"""
_COLUMNS = ("id", "slug", "title", "headline", "status", "bandit", "created_at", "published_at")
BANDIT_KINDS = ("shared", "own")


def _page_json(row: Any) -> dict[str, Any]:
    return {name: row[name] for name in _COLUMNS}


def landing_html(row: Any, arm: str, start_url: str) -> str:
    """The landing page: its headline and the chosen CTA (``a#cta`` with data-page-id and
    data-arm, for journeys to read), which starts the B2C sign-up at A5 (contract §10)."""
    href = f"{start_url}?{urlencode({'page_id': row['id'], 'arm': arm})}"
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(row['title'])}</title></head><body>"
        f"<h1>{html.escape(row['headline'])}</h1>"
        f'<a id="cta" class="cta" href="{html.escape(href)}" '
        f'data-page-id="{html.escape(row["id"])}" '
        f'data-arm="{html.escape(arm)}">{html.escape(CTA_TEXT[arm])}</a>'
        "</body></html>"
    )


SIGN_UP_START_PATH = "/auth/start"  # A5's (reftarget.apps.student_signin)
# The B2C journey's landing page (the system map's pages["b2c.landing"]): A7 keeps it
# published in the synthetic B2C tenant from its first start, so every target has one.
B2C_LANDING_SLUG = "b2c-landing"
B2C_LANDING_TENANT = "tenant_qa_b2c"
PROVIDER_PAGE_PATH = "/providers"
PORTAL_PATH = "/portal"  # A6's provider portal (reftarget.apps.a6_portal)


def provider_page_html(portal_url: str) -> str:
    """The provider page (B2B landing): its CTA ``a#cta`` leads to A6's portal."""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<title>Teach with us</title></head><body><h1>Teach with us</h1>"
        f'<a id="cta" class="cta" href="{html.escape(portal_url)}" data-funnel="b2b">'
        "Become a provider</a></body></html>"
    )


class GrowthService:
    """The handlers of A7."""

    def __init__(self, settings: AppSettings, runtime: AppRuntime) -> None:
        self.runtime = runtime
        self.portal_url = settings.topology.base_urls["A6"] + PORTAL_PATH
        self.start_url = settings.topology.base_urls["A5"] + SIGN_UP_START_PATH
        runtime.db.executescript(SCHEMA)
        now = runtime.clock.now().isoformat()
        runtime.db.execute(
            "INSERT INTO a7_pages (id, tenant_id, slug, title, headline, status, created_at,"
            " published_at) VALUES (?, ?, ?, ?, ?, 'published', ?, ?)"
            " ON CONFLICT (slug) DO NOTHING",
            (
                f"pg_{uuid.uuid4().hex}",
                B2C_LANDING_TENANT,
                B2C_LANDING_SLUG,
                "Learn faster",
                "Lessons that fit your week",
                now,
                now,
            ),
        )
        self._bandit_db = Database(app_db_path(settings.state_dir, "A7"))
        self.bandit = ThompsonBandit(
            list(CTA_TEXT), random.Random(), self._bandit_db, clock=runtime.clock
        )
        self._own_bandits: dict[str, ThompsonBandit] = {}

    def bandit_for(self, row: Any) -> ThompsonBandit:
        """The bandit a page's views and impressions use: its own, or the shared one."""
        if row["bandit"] != "own":
            return self.bandit
        page_id = str(row["id"])
        if page_id not in self._own_bandits:
            store = SqliteBanditStore(self._bandit_db, name=f"page:{page_id}")
            self._own_bandits[page_id] = ThompsonBandit(
                list(CTA_TEXT), random.Random(), store, clock=self.runtime.clock
            )
        return self._own_bandits[page_id]

    def _published_page(self, column: str, value: str) -> Any:
        """A published page of any tenant (landing pages and their impressions are public)."""
        row = self.runtime.db.execute(
            f"SELECT * FROM a7_pages WHERE {column} = ? AND status = 'published'", (value,)
        ).fetchone()
        if row is None:
            raise ResourceNotFound("published page", value)
        return row

    def _tenant_page(self, page_id: str, tenant_id: str | None) -> Any:
        """A page of the caller's tenant (any tenant's with the ``tenant_scope`` fault)."""
        return fetch_for_tenant(
            self.runtime.db, "a7_pages", page_id, tenant_id, self.runtime.faults, resource="page"
        )

    async def create_page(self, request: Request) -> Response:
        context = request_context(request)
        body = await json_object(request)
        slug = text_field(body, "slug", max_length=64)
        if _SLUG.fullmatch(slug) is None:
            raise InvalidBody("slug must be lowercase letters, digits and inner hyphens")
        title = text_field(body, "title")
        headline = text_field(body, "headline", default=title)
        bandit = text_field(body, "bandit", default="shared", max_length=16)
        if bandit not in BANDIT_KINDS:
            raise InvalidBody(f"bandit must be one of {list(BANDIT_KINDS)}")
        tenant_id, _ = context.principal()
        page_id = f"pg_{uuid.uuid4().hex}"
        taken = (
            self.runtime.db.execute(
                "INSERT INTO a7_pages (id, tenant_id, slug, title, headline, status, bandit,"
                " created_at) VALUES (?, ?, ?, ?, ?, 'draft', ?, ?) ON CONFLICT (slug) DO NOTHING",
                (
                    page_id,
                    tenant_id,
                    slug,
                    title,
                    headline,
                    bandit,
                    self.runtime.clock.now().isoformat(),
                ),
            ).rowcount
            == 0
        )
        if taken:
            return problem_response(409, "slug-taken", f"The slug {slug!r} is already in use.")
        self.runtime.events.business(context, "page_build_requested", status=201)
        row = fetch_for_tenant(self.runtime.db, "a7_pages", page_id, tenant_id, self.runtime.faults)
        return JSONResponse(
            _page_json(row), status_code=201, headers={"Location": f"/v1/pages/{page_id}"}
        )

    async def publish_page(self, request: Request) -> Response:
        context = request_context(request)
        page_id = request.path_params["page_id"]
        row = self._tenant_page(page_id, context.tenant_id)
        changed = (
            self.runtime.db.execute(
                "UPDATE a7_pages SET status = 'published', published_at = ?"
                " WHERE id = ? AND status = 'draft'",
                (self.runtime.clock.now().isoformat(), row["id"]),
            ).rowcount
            == 1
        )
        if changed:
            self.runtime.events.business(context, "page_published", tenant_id=row["tenant_id"])
        row = self._tenant_page(page_id, context.tenant_id)
        return JSONResponse(_page_json(row) | {"changed": changed})

    async def get_page(self, request: Request) -> Response:
        context = request_context(request)
        row = self._tenant_page(request.path_params["page_id"], context.tenant_id)
        return JSONResponse(_page_json(row))

    async def landing(self, request: Request) -> Response:
        context = request_context(request)
        row = self._published_page("slug", request.path_params["slug"])
        faults = self.runtime.faults
        choice = self.bandit_for(row).choose(uniform=not faults.rule_enabled("bandit_uniform"))
        arm = choice.arm
        if faults.rule_enabled("cta_emitted"):
            self.runtime.events.business(
                context,
                "cta_emitted",
                tenant_id=row["tenant_id"],
                data={"page_id": row["id"], "arm": arm, "propensity": choice.propensity},
            )
        return HTMLResponse(
            landing_html(row, arm, self.start_url),
            headers={"Cache-Control": "no-store", "X-CTA-Arm": arm, "X-Page-Id": row["id"]},
        )

    async def provider_page(self, request: Request) -> Response:
        return HTMLResponse(
            provider_page_html(self.portal_url), headers={"Cache-Control": "no-store"}
        )

    async def impression(self, request: Request) -> Response:
        context = request_context(request)
        body = await json_object(request)
        arm = text_field(body, "arm", max_length=64)
        if arm not in CTA_TEXT:
            raise InvalidBody(f"arm must be one of {sorted(CTA_TEXT)}")
        page_id = text_field(body, "page_id", max_length=64)
        page = self._published_page("id", page_id)
        signals = {
            name: int_field(body, name, default=0, maximum=1)
            for name in ("page_view", "lead", "checkout", "complaint")
        }
        value = reward(**signals)
        clip = not self.runtime.faults.rule_enabled("reward_rescale")
        update = self.bandit_for(page).update(arm, value, clip=clip)
        impression_id = f"imp_{uuid.uuid4().hex}"
        self.runtime.db.execute(
            "INSERT INTO a7_impressions (id, page_id, arm, propensity, reward, success,"
            " trace_id, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                impression_id,
                page_id,
                arm,
                update.propensity,
                value,
                int(update.success),
                context.trace_id,
                self.runtime.clock.now().isoformat(),
            ),
        )
        audit: dict[str, Any] = {"impression_id": impression_id, "page_id": page_id, "arm": arm}
        audit |= {"propensity": update.propensity, "reward": value}
        self.runtime.events.business(context, "cta_impression", status=201, data=audit)
        for emitted in update.emitted:
            self.runtime.events.business(context, "bandit_config", status=201, data=emitted.fields)
        return JSONResponse(
            audit
            | {
                "applied": update.applied,
                "success": update.success,
                "config_changed": update.config_changed,
                "config": update.config,
            },
            status_code=201,
        )

    async def bandit_config(self, request: Request) -> Response:
        """The shared bandit's config; with ``?page_id=`` that page's bandit's, and its
        posteriors (harness extension)."""
        page_id = request.query_params.get("page_id")
        if not page_id:
            return JSONResponse(self.bandit.config())
        row = self.runtime.db.execute("SELECT * FROM a7_pages WHERE id = ?", (page_id,)).fetchone()
        if row is None:
            raise ResourceNotFound("page", page_id)
        bandit = self.bandit_for(row)
        posteriors = {
            arm: {"alpha": post.alpha, "beta": post.beta, "mean": post.mean}
            for arm, post in bandit.posteriors().items()
        }
        body = bandit.config() | {"page_id": row["id"], "bandit": row["bandit"]}
        return JSONResponse(body | {"posteriors": posteriors})


def build(settings: AppSettings, runtime: AppRuntime) -> AppDefinition:
    service = GrowthService(settings, runtime)
    return AppDefinition(
        role=ROLE,
        endpoints=[
            Endpoint(
                "POST",
                "/v1/pages",
                service.create_page,
                "Build a landing page (draft)",
                success_status=201,
                request_example={"slug": "algebra-101", "title": "Algebra 101"},
                request_schema={
                    "type": "object",
                    "required": ["slug", "title"],
                    "properties": {
                        "slug": {"type": "string", "pattern": _SLUG.pattern},
                        "title": {"type": "string", "maxLength": 200},
                        "headline": {"type": "string", "maxLength": 200},
                        "bandit": {"type": "string", "enum": list(BANDIT_KINDS)},
                    },
                },
                emits=("page_build_requested",),
            ),
            Endpoint("GET", "/v1/pages/{page_id}", service.get_page, "One page of the tenant"),
            Endpoint(
                "POST",
                "/v1/pages/{page_id}/publish",
                service.publish_page,
                "Publish a page (once)",
                request_example={},
                request_schema={"type": "object"},
                emits=("page_published",),
            ),
            Endpoint(
                "GET",
                "/p/{slug}",
                service.landing,
                "A published landing page with the bandit's CTA",
                public=True,
                emits=("cta_emitted",),
                response_media_type="text/html",
                funnel_step="b2c.landing",
            ),
            Endpoint(
                "GET",
                PROVIDER_PAGE_PATH,
                service.provider_page,
                "The provider page (B2B landing): its CTA leads to A6's portal",
                public=True,
                response_media_type="text/html",
                funnel_step="b2b.landing",
            ),
            Endpoint(
                "POST",
                "/v1/impressions",
                service.impression,
                "Report an impression's outcome (reward updates the CTA bandit)",
                success_status=201,
                request_example={
                    "page_id": "pg_0123",
                    "arm": "book_a_demo",
                    "page_view": 1,
                    "lead": 1,
                    "checkout": 0,
                    "complaint": 0,
                },
                request_schema={
                    "type": "object",
                    "required": ["page_id", "arm"],
                    "properties": {
                        "page_id": {"type": "string"},
                        "arm": {"type": "string", "enum": list(CTA_TEXT)},
                        **{
                            name: {"type": "integer", "minimum": 0, "maximum": 1}
                            for name in ("page_view", "lead", "checkout", "complaint")
                        },
                    },
                },
                emits=("cta_impression", "bandit_config"),
            ),
            Endpoint("GET", "/v1/bandit/config", service.bandit_config, "The CTA bandit's weights"),
        ],
        exception_handlers=DOMAIN_ERROR_HANDLERS,
    )
