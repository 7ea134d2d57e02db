"""A8's HTTP API (contract §6), as Starlette routes the A8 app mounts.

Everything takes ``Authorization: Bearer <A8_TELEMETRY_KEY>`` (compared in constant time);
no or a wrong key is 401 problem+json. Nothing a client sends can cause a 500:

* ``POST /v1/events``: the body must be a JSON array (else 400; over 5 MiB or 1000 items
  413; a declared non-JSON content type 415). Each element is validated alone, so one bad
  event never costs the good ones: the answer is **200** whenever the array was processed,
  with ``accepted``/``duplicates``/``rejected`` counts and one ``results`` entry per element
  (``index``, ``outcome``: accepted | duplicate | rejected, ``problems``). Rejections are
  permanent (retrying the same event cannot help), so a sender keys its retries on the
  status code alone. (207 Multi-Status was not used: it is WebDAV's, with XML semantics.)
* ``GET /v1/slo?app_id=&route=&since=&until=``, ``GET /v1/events?trace_id=&event=&app_id=
  &since=&until=&limit=``, ``GET /v1/dashboards/{name}?since=&until=&trace_id=``: malformed
  parameters are 400 naming the parameter; an unknown dashboard is 404.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from reftarget.core.problem import problem_response
from reftarget.telemetry import dashboards
from reftarget.telemetry.a8store import MAX_EVENTS_LIMIT, TelemetryStore
from reftarget.telemetry.timestamps import parse_timestamp

MAX_BODY_BYTES: Final = 5 * 1024 * 1024
MAX_BATCH: Final = 1000
_APP_ID = re.compile(r"^A[1-8]$")
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
_NO_STORE: Final = {"Cache-Control": "no-store"}  # problem answers are never cached

Endpoint = Callable[[Request], Awaitable[Response]]


class BadParameter(ValueError):
    """A query parameter is malformed; the message names it."""


def _unauthorized(detail: str) -> Response:
    return problem_response(
        401,
        "unauthorized",
        detail,
        headers={**_NO_STORE, "WWW-Authenticate": 'Bearer realm="a8"'},
    )


def _authorized(request: Request, key: bytes) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode("utf-8"), key)


def _guarded(key: bytes, endpoint: Endpoint) -> Endpoint:
    async def guarded(request: Request) -> Response:
        if not _authorized(request, key):
            return _unauthorized("send Authorization: Bearer <A8_TELEMETRY_KEY>")
        try:
            return await endpoint(request)
        except BadParameter as exc:
            return problem_response(400, "bad-parameter", str(exc), headers=_NO_STORE)

    return guarded


def _time_param(request: Request, name: str) -> datetime | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise BadParameter(f"{name}: {exc}") from None


def _window(request: Request) -> tuple[datetime | None, datetime | None]:
    since, until = _time_param(request, "since"), _time_param(request, "until")
    if since is not None and until is not None and since > until:
        raise BadParameter("since is after until")
    return since, until


def _pattern_param(request: Request, name: str, pattern: re.Pattern[str], what: str) -> str | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if not pattern.match(value):
        raise BadParameter(f"{name}: must be {what}")
    return value


def a8_routes(store: TelemetryStore, api_key: str) -> list[BaseRoute]:
    """The routes of A8's API over ``store``, guarded by ``api_key``."""
    if not api_key:
        raise ValueError("A8 needs a non-empty telemetry key (A8_TELEMETRY_KEY)")
    key = api_key.encode("utf-8")

    async def ingest(request: Request) -> Response:
        content_type = request.headers.get("content-type", "application/json").lower()
        media = content_type.split(";")[0].strip()
        if media != "application/json" and not media.endswith("+json"):
            return problem_response(415, "media-type", "send application/json", headers=_NO_STORE)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return _too_large()
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():  # a chunked body has no Content-Length to trust
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                return _too_large()
            chunks.append(chunk)
        raw = b"".join(chunks)
        try:
            body = json.loads(raw, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            return problem_response(400, "not-json", f"body is not JSON: {exc}", headers=_NO_STORE)
        if not isinstance(body, list):
            return problem_response(
                400,
                "not-an-array",
                f"body must be a JSON array of events, got a JSON {_json_kind(body)}",
                headers=_NO_STORE,
            )
        if len(body) > MAX_BATCH:
            return problem_response(
                413, "too-large", f"at most {MAX_BATCH} events per request", headers=_NO_STORE
            )
        result = await run_in_threadpool(store.ingest, body)
        return JSONResponse(result.as_json() | {"generated_at": store.generated_at()})

    async def slo(request: Request) -> Response:
        app_id = _pattern_param(request, "app_id", _APP_ID, "one of A1..A8")
        if app_id is None:
            raise BadParameter("app_id: required")
        route = request.query_params.get("route") or None
        since, until = _window(request)
        return JSONResponse(await run_in_threadpool(store.slo, app_id, route, since, until))

    async def events(request: Request) -> Response:
        trace_id = _pattern_param(request, "trace_id", _TRACE_ID, "32 lowercase hex digits")
        app_id = _pattern_param(request, "app_id", _APP_ID, "one of A1..A8")
        event = request.query_params.get("event") or None
        since, until = _window(request)
        limit_text = request.query_params.get("limit", "")
        limit = 1000
        if limit_text:
            if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_EVENTS_LIMIT:
                raise BadParameter(f"limit: an integer from 1 to {MAX_EVENTS_LIMIT}")
            limit = int(limit_text)
        answer = await run_in_threadpool(
            lambda: store.events(trace_id, event, app_id, since, until, limit=limit)
        )
        return JSONResponse(answer)

    async def dashboard(request: Request) -> Response:
        name = str(request.path_params["name"])
        if name not in dashboards.NAMES:
            return problem_response(
                404,
                "no-such-dashboard",
                f"no dashboard {name[:64]!r}; there are: {', '.join(dashboards.NAMES)}",
                headers=_NO_STORE,
            )
        since, until = _window(request)
        trace_id = _pattern_param(request, "trace_id", _TRACE_ID, "32 lowercase hex digits")
        answer = await run_in_threadpool(
            lambda: store.dashboard(name, since=since, until=until, trace_id=trace_id)
        )
        return JSONResponse(answer)

    return [
        Route("/v1/events", _guarded(key, ingest), methods=["POST"]),
        Route("/v1/events", _guarded(key, events), methods=["GET"]),
        Route("/v1/slo", _guarded(key, slo), methods=["GET"]),
        Route("/v1/dashboards/{name}", _guarded(key, dashboard), methods=["GET"]),
    ]


def _too_large() -> Response:
    return problem_response(
        413, "too-large", f"body over {MAX_BODY_BYTES} bytes", headers=_NO_STORE
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _json_kind(value: object) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"
