"""The harness's client for A8, the command center: SLO snapshots and stored events.

Everything A8 answers is validated here, at the edge: a malformed answer, an unreachable
A8 or a refused key becomes one :class:`TelemetryError` whose message says what was wrong,
so a check fails with that reason instead of a traceback. The telemetry key goes only to
A8's origin over TLS (:mod:`secondconf.target.credentials`): a map whose telemetry URL
breaks that rule gets the same kind of error, before any request is sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import httpx

from secondconf.core.clock import utc_iso
from secondconf.core.secret import Secret
from secondconf.target.credentials import destination_problem
from secondconf.target.json_answer import get_json_object
from secondconf.target.map import SystemMap

MAX_SPLITS: Final = 12  # a cut /v1/events answer's range is halved at most this often


class TelemetryError(Exception):
    """A8 could not be asked, or answered something that is not the contract's shape."""


@dataclass(frozen=True)
class SloSnapshot:
    """A8's ``/v1/slo`` answer for one app and route over one window."""

    app_id: str
    route: str
    since: str
    until: str
    requests: float
    errors: float
    samples: int
    error_rate: float | None
    p95_ms: float | None


@dataclass(frozen=True)
class StoredEvent:
    """One event as A8 stored it, with the moment A8 received it."""

    event: str
    app_id: str
    route: str | None
    status: int | None
    latency_ms: float | None
    trace_id: str
    timestamp: datetime
    received_at: datetime
    sample_rate: float
    tags: Mapping[str, Any]
    idempotency_key: str | None = None
    tenant_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)  # every field as A8 answered it


@dataclass(frozen=True)
class RawEvents:
    """Stored events exactly as A8 answered them (every field, ``received_at`` included),
    unparsed: a check of the schema itself must see a broken event, not an exception."""

    items: list[dict[str, Any]]
    truncated: bool  # A8 held more than it sent (its ``truncated``, or ``limit`` reached)


@dataclass(frozen=True)
class IngestAnswer:
    """A8's answer to ``POST /v1/events``: its status and its JSON body (``None`` if not JSON)."""

    status: int
    body: Any


class A8Client:
    """A8's API at the map's telemetry URL, with the telemetry key as a bearer token."""

    def __init__(self, client: httpx.AsyncClient, system_map: SystemMap, api_key: Secret) -> None:
        self._client = client
        self._base_url = system_map.telemetry_base_url
        a8_url = system_map.apps[system_map.telemetry_app_id].base_url
        problem = destination_problem(self._base_url, a8_url, system_map.env, "A8")
        self._refusal = (
            None if problem is None else f"telemetry.base_url {problem}; {api_key.name} not sent"
        )
        self._headers = {"Authorization": f"Bearer {api_key.reveal()}"}

    def _require_allowed_destination(self, where: str) -> None:
        if self._refusal is not None:
            raise TelemetryError(f"{where}: {self._refusal}")

    async def slo(self, app_id: str, route: str, since: datetime, until: datetime) -> SloSnapshot:
        where = f"A8 /v1/slo for {app_id} {route}"
        body = await self._get(
            "/v1/slo",
            {"app_id": app_id, "route": route, "since": utc_iso(since), "until": utc_iso(until)},
            where,
        )
        return SloSnapshot(
            app_id=_field(body, "app_id", str, where),
            route=_field(body, "route", str, where),
            since=_field(body, "since", str, where),
            until=_field(body, "until", str, where),
            requests=float(_field(body, "requests", (int, float), where)),
            errors=float(_field(body, "errors", (int, float), where)),
            samples=_field(body, "samples", int, where),
            error_rate=_optional_number(body, "error_rate", where),
            p95_ms=_optional_number(body, "p95_ms", where),
        )

    async def events(
        self,
        *,
        app_id: str | None = None,
        event: str | None = None,
        trace_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[StoredEvent]:
        """Every stored event that matches the filters, however many.

        A8 may cut a long answer (the reference at 1,000 events, saying ``truncated``): such
        an answer is asked again as two halves of [since, until], recursively
        (:func:`read_in_halves`). An answer still cut, or cut with no time range to split,
        is a :class:`TelemetryError`, never a silently short list: a check counting events
        would read the missing ones as lost.
        """

        async def read(low: datetime | None, high: datetime | None) -> RawEvents:
            return await self.raw_events(
                app_id=app_id, event=event, trace_id=trace_id, since=low, until=high
            )

        where = _events_where(_event_params(app_id, event, trace_id, since, until, None))
        if since is None or until is None:
            page = await read(since, until)
            items, cut = page.items, ["the whole query"] if page.truncated else []
        else:
            items, cut = await read_in_halves(read, since, until)
        if cut:
            raise TelemetryError(
                f"{where}: A8 cut its answer short for {cut[0]}, which cannot be split further"
            )
        return [_stored_event(item, f"{where} item {i}") for i, item in enumerate(items)]

    async def raw_events(
        self,
        *,
        app_id: str | None = None,
        event: str | None = None,
        trace_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> RawEvents:
        """``/v1/events`` as A8 answered it; only the envelope is validated."""
        params = _event_params(app_id, event, trace_id, since, until, limit)
        items, body, where = await self._event_items(params)
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise TelemetryError(f"{where} item {i}: not a JSON object")
        cut = body.get("truncated") is True or (limit is not None and len(items) >= limit)
        return RawEvents(items=items, truncated=cut)

    async def _event_items(
        self, params: Mapping[str, str]
    ) -> tuple[list[Any], dict[str, Any], str]:
        """``GET /v1/events`` with ``params``: its items, the whole answer, and where."""
        where = _events_where(params)
        body = await self._get("/v1/events", params, where)
        return _field(body, "events", list, where), body, where

    async def dashboard(self, name: str, **params: str) -> dict[str, Any]:
        """``GET /v1/dashboards/{name}`` with ``params`` (e.g. ``trace_id``): the answer as
        A8 gave it (a JSON object; its ``tiles`` are read by the check that asked)."""
        where = f"A8 dashboard {name}" + "".join(f" {k}={v}" for k, v in params.items())
        return await self._get(f"/v1/dashboards/{name}", params, where)

    async def post_events(
        self, events: Sequence[Mapping[str, Any]], headers: Mapping[str, str] | None = None
    ) -> IngestAnswer:
        """``POST /v1/events`` with a JSON array; ``headers`` are added to the bearer key."""
        where = "A8 POST /v1/events"
        self._require_allowed_destination(where)
        try:
            response = await self._client.post(
                self._base_url + "/v1/events",
                json=[dict(e) for e in events],
                headers={**(headers or {}), **self._headers},
            )
        except httpx.HTTPError as error:
            raise TelemetryError(f"{where}: unreachable ({type(error).__name__})") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        return IngestAnswer(status=response.status_code, body=body)

    async def _get(self, path: str, params: Mapping[str, str], where: str) -> dict[str, Any]:
        self._require_allowed_destination(where)
        return await get_json_object(
            self._client, self._base_url + path, params, self._headers, where, TelemetryError
        )


async def read_in_halves(
    read: Callable[[datetime, datetime], Awaitable[RawEvents]],
    since: datetime,
    until: datetime,
    max_splits: int = MAX_SPLITS,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Every item A8 holds in [since, until], and the spans A8 still cut short.

    An answer A8 cut (``truncated``) is asked again as two halves, recursively, at most
    ``max_splits`` deep. A8 filters on each event's own timestamp, inclusively, so the
    halves [since, middle] and [middle + 1 µs, until] partition the range: no event is read
    twice. A span still cut when it cannot be halved any more keeps what was read of it and
    is named in the second list.
    """
    page = await read(since, until)
    if not page.truncated:
        return list(page.items), []
    middle = since + (until - since) / 2
    if max_splits == 0 or middle <= since:
        return list(page.items), [f"{utc_iso(since)} .. {utc_iso(until)}"]
    early, early_cut = await read_in_halves(read, since, middle, max_splits - 1)
    late, late_cut = await read_in_halves(
        read, middle + timedelta(microseconds=1), until, max_splits - 1
    )
    return early + late, early_cut + late_cut


def _events_where(params: Mapping[str, str]) -> str:
    return f"A8 /v1/events ({', '.join(f'{k}={v}' for k, v in params.items())})"


def _event_params(
    app_id: str | None,
    event: str | None,
    trace_id: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int | None,
) -> dict[str, str]:
    """The query of ``/v1/events``: only the filters given."""
    params = {
        "app_id": app_id,
        "event": event,
        "trace_id": trace_id,
        "since": utc_iso(since) if since else None,
        "until": utc_iso(until) if until else None,
        "limit": str(limit) if limit else None,
    }
    return {name: value for name, value in params.items() if value}


def _field(body: Mapping[str, Any], name: str, kind: Any, where: str) -> Any:
    if name not in body:
        raise TelemetryError(f"{where}: field {name!r} missing")
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise TelemetryError(f"{where}: field {name!r} has the wrong type ({value!r})")
    return value


def _optional_number(body: Mapping[str, Any], name: str, where: str) -> float | None:
    if body.get(name, ...) is None:
        return None
    return float(_field(body, name, (int, float), where))


def _time(body: Mapping[str, Any], name: str, where: str) -> datetime:
    text = _field(body, name, str, where)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise TelemetryError(f"{where}: field {name!r} is not RFC 3339 ({text!r})") from None
    if moment.tzinfo is None:
        raise TelemetryError(f"{where}: field {name!r} has no timezone ({text!r})")
    return moment


def _stored_event(item: Any, where: str) -> StoredEvent:
    if not isinstance(item, dict):
        raise TelemetryError(f"{where}: not a JSON object")
    status = item.get("status")
    latency = item.get("latency_ms")
    return StoredEvent(
        event=_field(item, "event", str, where),
        app_id=_field(item, "app_id", str, where),
        route=item.get("route") if isinstance(item.get("route"), str) else None,
        status=None if status is None else _field(item, "status", int, where),
        latency_ms=None
        if latency is None
        else float(_field(item, "latency_ms", (int, float), where)),
        trace_id=_field(item, "trace_id", str, where),
        timestamp=_time(item, "timestamp", where),
        received_at=_time(item, "received_at", where),
        sample_rate=float(_field(item, "sample_rate", (int, float), where)),
        tags=_field(item, "tags", dict, where),
        idempotency_key=_optional_text(item, "idempotency_key"),
        tenant_id=_optional_text(item, "tenant_id"),
        raw=dict(item),
    )


def _optional_text(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return value if isinstance(value, str) else None
