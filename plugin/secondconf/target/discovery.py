"""Building a system map by discovery: ask each app what it serves.

:func:`discover` asks each app's ``/health`` (version), ``/ready`` and ``/openapi.json``
(routes) and returns the map with notes on what it could not learn. Its input is one
base URL per app, from either of two places:

* environment variables ``SECONDCONF_A1_URL`` … ``SECONDCONF_A8_URL``, read by
  :func:`base_urls_from_env` (only the variables that are set; an empty value is unset);
* a targets file, a small JSON object read by :func:`load_targets_file`::

      {"A1": "https://a1.staging.example", "A2": "https://a2.staging.example", …}

Both return a partial mapping; callers that combine them let the environment variable
override the file. :func:`discover` needs all eight apps and says which are missing.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import httpx

from secondconf.contract.platform import APP_IDS, APP_ROLES, ENVS, SyntheticIdentity
from secondconf.core.clock import Clock, SystemClock, utc_iso
from secondconf.target.client import harness_client
from secondconf.target.map import (
    HEALTH_PATH,
    OPENAPI_PATH,
    READY_PATH,
    AppEntry,
    Document,
    SystemMap,
    SystemMapError,
    error_line,
    read_json_document,
)

DEFAULT_QA_CLIENT_ID: Final = "qa-harness"
DISCOVERY_IDENTITY: Final = SyntheticIdentity.STUDENT  # the tags a discovery request carries

TARGET_URL_ENV_VARS: Final[Mapping[str, str]] = MappingProxyType(
    {app_id: f"SECONDCONF_{app_id}_URL" for app_id in APP_IDS}
)

_HTTP_METHODS: Final = frozenset({"get", "put", "post", "delete", "options", "head", "patch"})


class DiscoveryError(SystemMapError):
    """Discovery could not describe every app (one is unreachable, missing or misnamed).

    ``notes`` holds everything discovery learnt before it gave up.
    """

    def __init__(self, message: str, notes: list[DiscoveryNote] | None = None) -> None:
        super().__init__(message)
        self.notes: list[DiscoveryNote] = list(notes or ())


@dataclass(frozen=True)
class DiscoveryNote:
    """Something discovery noticed about one app; ``fatal`` notes make it fail."""

    app_id: str
    url: str
    message: str
    fatal: bool = False

    def __str__(self) -> str:
        return f"{self.app_id} {self.url}: {self.message}"


# --- inputs --------------------------------------------------------------------------------


def base_urls_from_env(environ: Mapping[str, str]) -> dict[str, str]:
    """``{app_id: base_url}`` from ``SECONDCONF_A1_URL`` … ``SECONDCONF_A8_URL`` (set ones only)."""
    doc = Document("environment")
    return {
        app_id: doc.url(environ[name], name)
        for app_id, name in TARGET_URL_ENV_VARS.items()
        if environ.get(name)
    }


def load_targets_file(path: Path | str) -> dict[str, str]:
    """``{app_id: base_url}`` from a JSON object such as ``{"A1": "https://…", …}``."""
    path = Path(path)
    doc = Document(f"targets file {path}")
    targets = doc.object(read_json_document(path, doc.label), "(top level)")
    urls: dict[str, str] = {}
    for app_id, url in targets.items():
        if app_id not in APP_IDS:
            raise doc.error(app_id, "unknown app id; valid ids: A1..A8")
        urls[app_id] = doc.url(url, app_id)
    return urls


# --- asking the apps -----------------------------------------------------------------------


async def discover(
    base_urls: Mapping[str, str],
    *,
    env: str,
    telemetry_app: str = "A8",
    identity_app: str = "A1",
    qa_client_id: str = DEFAULT_QA_CLIENT_ID,
    verify: ssl.SSLContext | bool | Path = True,
    timeout_s: float = 5.0,
    stripe_api_base: str | None = None,
    clock: Clock | None = None,
) -> tuple[SystemMap, list[DiscoveryNote]]:
    """Build a system map by asking every app what it serves (GET requests only).

    Per app: ``/health`` must answer (its ``version`` is recorded, its ``app_id`` must be
    the app's own); ``/ready`` and ``/openapi.json`` are asked too, and what they do not
    tell is a note, not an error (routes are then empty). An unreachable app, or one that
    answers as another app, raises :class:`DiscoveryError` naming the app and the URL.

    ``verify`` given as a ``Path`` is a CA bundle: it is trusted and recorded in the map.
    """
    doc = Document("discovery", DiscoveryError)
    if env not in ENVS:
        raise DiscoveryError(
            f"discovery: env: unknown environment {env!r}; valid values: {', '.join(ENVS)}"
        )
    missing = [app_id for app_id in APP_IDS if app_id not in base_urls]
    if missing:
        names = ", ".join(TARGET_URL_ENV_VARS[a] for a in missing)
        raise DiscoveryError(
            f"discovery: no base URL for {', '.join(missing)}; set {names} or name them in "
            "a targets file"
        )
    for app_id in (telemetry_app, identity_app):
        if app_id not in APP_IDS:
            raise DiscoveryError(f"discovery: {app_id!r} is not an app id; valid ids: A1..A8")
    urls = {app_id: doc.url(base_urls[app_id], app_id) for app_id in APP_IDS}
    ca_bundle = verify.resolve() if isinstance(verify, Path) else None
    ssl_verify = _ssl_context(verify, doc)

    # The harness's own client: a trace id on every request, the synthetic tags (as the
    # student identity), the production guard of ``env``; every URL is absolute.
    async with harness_client(
        "", env=env, verify=ssl_verify, timeout_s=timeout_s, synthetic_identity=DISCOVERY_IDENTITY
    ) as client:
        results = await asyncio.gather(
            *(_describe_app(client, app_id, urls[app_id]) for app_id in APP_IDS)
        )
    notes = [note for _, app_notes in results for note in app_notes]
    fatal = [note for note in notes if note.fatal]
    if fatal:
        raise DiscoveryError("discovery: " + "; ".join(str(n) for n in fatal), notes)
    apps = {entry.app_id: entry for entry, _ in results if entry is not None}
    moment = (clock or SystemClock()).now().replace(microsecond=0)
    system_map = SystemMap(
        env=env,
        generated_at=utc_iso(moment),
        apps=apps,
        telemetry_base_url=urls[telemetry_app],
        identity_base_url=urls[identity_app],
        qa_client_id=qa_client_id,
        stripe_api_base=doc.url(stripe_api_base, "stripe_api_base") if stripe_api_base else None,
        ca_bundle=ca_bundle,
        telemetry_app_id=telemetry_app,
        identity_app_id=identity_app,
    )
    return system_map, notes


async def _describe_app(
    client: httpx.AsyncClient, app_id: str, base_url: str
) -> tuple[AppEntry | None, list[DiscoveryNote]]:
    notes: list[DiscoveryNote] = []

    def note(path: str, message: str, *, fatal: bool = False) -> None:
        notes.append(DiscoveryNote(app_id, base_url + path, message, fatal))

    health = await _get(client, base_url + HEALTH_PATH)
    if isinstance(health, str):
        note(HEALTH_PATH, f"unreachable ({health})", fatal=True)
        return None, notes
    version = "unknown"
    body = _json_object(health)
    if health.status_code != 200:
        note(HEALTH_PATH, f"answered {health.status_code}; version unknown")
    elif body is None:
        note(HEALTH_PATH, "answered without a JSON object; version unknown")
    else:
        if body.get("app_id") not in (None, app_id):
            note(HEALTH_PATH, f"answers as {body['app_id']!r}, not {app_id}", fatal=True)
        if isinstance(body.get("version"), str) and body["version"]:
            version = body["version"]
        else:
            note(HEALTH_PATH, "names no version")

    ready = await _get(client, base_url + READY_PATH)
    if isinstance(ready, str):
        note(READY_PATH, f"did not answer ({ready})")
    elif ready.status_code != 200:
        note(READY_PATH, f"answered {ready.status_code} (not ready at discovery time)")

    routes: tuple[str, ...] = ()
    openapi = await _get(client, base_url + OPENAPI_PATH)
    if isinstance(openapi, str):
        note(OPENAPI_PATH, f"did not answer ({openapi}); routes left empty")
    elif openapi.status_code != 200 or (document := _json_object(openapi)) is None:
        note(OPENAPI_PATH, f"absent (answered {openapi.status_code}); routes left empty")
    else:
        routes = openapi_routes(document)

    entry = AppEntry(
        app_id=app_id,
        base_url=base_url,
        role=APP_ROLES[app_id],
        health=HEALTH_PATH,
        ready=READY_PATH,
        version=version,
        routes=routes,
    )
    return entry, notes


def openapi_routes(document: Mapping[str, Any]) -> tuple[str, ...]:
    """``"METHOD /template"`` for every operation of an OpenAPI document, sorted."""
    paths = document.get("paths")
    if not isinstance(paths, dict):
        return ()
    return tuple(
        sorted(
            f"{method.upper()} {path}"
            for path, item in paths.items()
            if isinstance(item, dict)
            for method in item
            if method in _HTTP_METHODS
        )
    )


async def _get(client: httpx.AsyncClient, url: str) -> httpx.Response | str:
    """The response, or a short reason it did not come (``connect error``, ``timeout``…)."""
    try:
        return await client.get(url)
    except httpx.TimeoutException:
        return "timeout"
    except httpx.ConnectError as error:
        return f"connect error: {error_line(error)}"
    except httpx.HTTPError as error:
        return f"{type(error).__name__}: {error_line(error)}"


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _ssl_context(verify: ssl.SSLContext | bool | Path, doc: Document) -> ssl.SSLContext | bool:
    if not isinstance(verify, Path):
        return verify
    try:
        return ssl.create_default_context(cafile=str(verify))
    except (OSError, ssl.SSLError) as error:
        raise doc.error(
            "verify", f"CA bundle {verify} cannot be used: {error_line(error)}"
        ) from None
