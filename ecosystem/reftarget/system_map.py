"""The system map of the embedded ecosystem (contract §2), built from what the apps serve.

Each app entry is read back from the running app (``/health`` for the version,
``/openapi.json`` for the routes), so the map describes what is actually up. The map
names no secret: the harness finds those in the environment variables listed in
``SECRET_ENV_VARS``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from reftarget.apps.a1 import STUDENT_CALLBACK_PATH
from reftarget.apps.a7 import B2C_LANDING_SLUG
from reftarget.core.settings import APP_IDS, Topology
from reftarget.identity import QA_CLIENT_ID, STUDENT_CLIENT_ID

# A1's browser login as apps/a1.py sets it up: the session lasts IdentityProvider's
# default TTL (a1.py passes none), the cookie is host-only (no cookie_domain), and the
# synthetic identities log in with OIDC_CLIENT_SECRET's value as their password.
SESSION_TTL_S = 3600

SYSTEM_MAP_FILE = "system_map.json"

APP_ROLES: Mapping[str, str] = {
    "A1": "identity",
    "A2": "payments",
    "A3": "orchestration",
    "A4": "content",
    "A5": "student",
    "A6": "provider_portal",
    "A7": "growth",
    "A8": "command_center",
}


def served_routes(openapi: Mapping[str, Any]) -> list[str]:
    """``"METHOD /template"`` for every operation of an OpenAPI document, sorted."""
    paths = openapi.get("paths", {})
    return sorted(
        f"{method.upper()} {path}" for path, operations in paths.items() for method in operations
    )


def describe_app(http: httpx.Client, app_id: str, base_url: str) -> dict[str, Any]:
    """One ``apps`` entry, read from the running app."""
    health = http.get(f"{base_url}/health").raise_for_status().json()
    openapi = http.get(f"{base_url}/openapi.json").raise_for_status().json()
    return {
        "base_url": base_url,
        "role": APP_ROLES[app_id],
        "health": "/health",
        "ready": "/ready",
        "openapi": "/openapi.json",
        "version": health["version"],
        "routes": served_routes(openapi),
    }


def browser_login(topology: Topology) -> dict[str, Any]:
    """The map's ``identity.browser_login`` (a harness extension of contract §2)."""
    return {
        "client_id": STUDENT_CLIENT_ID,
        "redirect_uri": f"{topology.base_urls['A5']}{STUDENT_CALLBACK_PATH}",
        "session_ttl_s": SESSION_TTL_S,
        "cookie_domain": None,
        "username_field": "username",
        "password_field": "password",
        "password_env": "OIDC_CLIENT_SECRET",
    }


def b2c_pages(topology: Topology) -> dict[str, str]:
    """The B2C funnel's browser pages: A7's landing page (whose CTA starts the journey; A7
    keeps it published in the synthetic tenant) and A2's checkout page."""
    return {
        "b2c.landing": f"{topology.base_urls['A7']}/p/{B2C_LANDING_SLUG}",
        "b2c.checkout": f"{topology.base_urls['A2']}/checkout",
    }


def b2b_pages(topology: Topology) -> dict[str, str]:
    """The B2B funnel's browser pages (the map's ``pages``, a harness extension of §10)."""
    return {
        "b2b.landing": f"{topology.base_urls['A7']}/providers",
        "b2b.portal": f"{topology.base_urls['A6']}/portal",
    }


def build_system_map(topology: Topology, http: httpx.Client) -> dict[str, Any]:
    """The whole map; ``http`` must trust the embedded CA."""
    return {
        "env": topology.env,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "apps": {
            app_id: describe_app(http, app_id, topology.base_urls[app_id]) for app_id in APP_IDS
        },
        "telemetry": {"app_id": "A8", "base_url": topology.base_urls["A8"]},
        "identity": {
            "app_id": "A1",
            "qa_client_id": QA_CLIENT_ID,
            "browser_login": browser_login(topology),
        },
        "stripe": {"api_base": topology.stripe_api_base},
        "ca_bundle": str(topology.tls.ca_pem),
        "pages": {**b2c_pages(topology), **b2b_pages(topology)},
    }


def write_system_map(state_dir: Path, system_map: Mapping[str, Any]) -> Path:
    """Write ``system_map.json`` atomically (readers never see half a file)."""
    path = state_dir / SYSTEM_MAP_FILE
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(system_map, indent=2) + "\n")
    os.replace(partial, path)
    return path
