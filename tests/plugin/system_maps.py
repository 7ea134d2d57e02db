"""Validated system maps built in memory, for unit tests that need a map but no file."""

from __future__ import annotations

from collections.abc import Mapping

from secondconf.contract.platform import APP_IDS, APP_ROLES
from secondconf.target.map import AppEntry, SystemMap


def system_map_at(
    base_urls: str | Mapping[str, str], *, env: str = "staging", identity_base_url: str = ""
) -> SystemMap:
    """A map whose apps live at ``base_urls`` (one URL for all, or one per app id; the
    apps left out live at ``https://<app>.test``); A1 is the issuer unless
    ``identity_base_url`` says otherwise."""
    urls = {app_id: f"https://{app_id.lower()}.test" for app_id in APP_IDS}
    urls |= dict.fromkeys(APP_IDS, base_urls) if isinstance(base_urls, str) else base_urls
    apps = {
        app_id: AppEntry(app_id, url, APP_ROLES[app_id], "/health", "/ready", "1.0.0", ())
        for app_id, url in urls.items()
    }
    return SystemMap(
        env=env,
        generated_at="2026-11-26T03:00:00Z",
        apps=apps,
        telemetry_base_url=urls["A8"],
        identity_base_url=identity_base_url or urls["A1"],
        qa_client_id="qa-harness",
        stripe_api_base=None,
        ca_bundle=None,
    )
