"""How the hardening cases talk to a route: the run's shared context and the route driver.

A case (:mod:`secondconf.checks.hardening.cases`) gets a :class:`RouteDriver` for its route:
it prepares fresh requests (a new parent resource for each path parameter, a body made
unique, a new key and trace id), sends them as a tenant and records each exchange on the
case. The run (:mod:`secondconf.checks.hardening.run`) builds the :class:`RunContext` and
the drivers; the cases depend on this module only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from secondconf.checks.hardening.model import (
    HOME,
    CaseResult,
    Exchange,
    RequestSpec,
    RouteState,
    is_success,
    new_trace,
)
from secondconf.contract.platform import PROVIDER_ROLE, SyntheticIdentity
from secondconf.contract.traceids import (
    IDEMPOTENCY_KEY_HEADER,
    TRACE_ID_HEADER,
    new_idempotency_key,
)
from secondconf.engine.evidence import RequestRecord, selected_headers
from secondconf.target.a8 import A8Client
from secondconf.target.client import NO_TRACE_ID, synthetic_headers
from secondconf.target.identity import AccessToken
from secondconf.target.json_answer import json_body
from secondconf.target.map import SystemMap
from secondconf.target.routes import MutatingRoute, prepared_body, resource_id, unique_token


@dataclass
class RunContext:
    """Everything the cases share: the client, tokens, A8 and the resources made so far."""

    client: httpx.AsyncClient
    system_map: SystemMap
    tokens: Mapping[str, AccessToken]  # HOME/OTHER per app are resolved by identity_for
    a8: A8Client
    routes: dict[tuple[str, str], MutatingRoute] = field(default_factory=dict)
    readers: dict[str, Mapping[str, str]] = field(default_factory=dict)  # app -> param -> GET
    # (app, identity) -> what each resource the run made was made with: its id under the
    # parameter name, and its body's string fields (a landing page's slug, …)
    created: dict[tuple[str, str], list[dict[str, str]]] = field(default_factory=dict)
    references: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def identity_for(self, app_id: str, side: str) -> str:
        """The synthetic identity of ``side`` (home or other tenant) for an app: the
        provider for the provider portal, the student elsewhere, and the other one as
        the second tenant."""
        provider = self.system_map.apps[app_id].role == PROVIDER_ROLE
        home = SyntheticIdentity.PROVIDER if provider else SyntheticIdentity.STUDENT
        other = SyntheticIdentity.STUDENT if provider else SyntheticIdentity.PROVIDER
        return str(home if side == HOME else other)

    def url(self, app_id: str, path: str) -> str:
        return self.system_map.apps[app_id].base_url + path


class RouteDriver:
    """Sends requests on one route as the cases ask, and records each exchange."""

    def __init__(self, run: RunContext, route: MutatingRoute, case: CaseResult) -> None:
        self.run = run
        self.route = route
        self.case = case

    def identity(self, side: str = HOME) -> str:
        return self.run.identity_for(self.route.app_id, side)

    async def fresh(self, side: str = HOME) -> RequestSpec | None:
        """A new request that can succeed: a fresh parent resource for each path
        parameter (made by the creator), a body made unique, a new key and trace id."""
        identity = self.identity(side)
        values: dict[str, str] = {}
        for param in self.route.path_params:
            made = await self.create_parent(param, identity)
            if made is None:
                return None
            values[param] = made
        token = unique_token()
        references = {
            param: value
            for (app_id, who, param), value in self.run.references.items()
            if app_id == self.route.app_id and who == identity
        }
        body = prepared_body(self.route, token, references)
        return RequestSpec(
            self.route.path(values), body, token, new_idempotency_key(), new_trace(), values
        )

    async def create_parent(self, param: str, identity: str) -> str | None:
        """A new resource for ``{param}``, made by the route's creator as ``identity``."""
        creator = self.route.creator
        assert creator is not None  # discovery gives every parameterised route a creator
        parent = self.run.system_map.apps[self.route.app_id]
        maker = self.run.routes.get((parent.app_id, creator))
        body = prepared_body(maker, unique_token(), {}) if maker is not None else {}
        answer = await self.send_raw(
            "POST",
            creator,
            identity,
            payload=body,
            headers={IDEMPOTENCY_KEY_HEADER: new_idempotency_key(), TRACE_ID_HEADER: new_trace()},
        )
        made = resource_id(json_body(answer), param) if answer is not None else None
        if made is not None and isinstance(body, dict):
            fields = {k: v for k, v in body.items() if isinstance(v, str)}
            self.run.created.setdefault((parent.app_id, identity), []).append(
                {**fields, param: made}
            )
        if made is None:
            status = answer.status_code if answer is not None else "no answer"
            self.case.untested = (
                f"could not create a {{{param}}} for {parent.app_id} via POST {creator} ({status})"
            )
        return made

    async def send(
        self,
        spec: RequestSpec,
        sent: str,
        *,
        side: str = HOME,
        path: str | None = None,
        method: str | None = None,
        key: str | bool | None = True,
        trace: str | bool | None = True,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        body: Any = None,
        authorized: bool = True,
    ) -> tuple[Exchange, httpx.Response | None]:
        """Send ``spec`` (or a variant) and record it; ``key``/``trace`` True means the
        spec's, a string replaces it, False/None leaves the header out."""
        identity = self.identity(side)
        all_headers: dict[str, str] = {}
        key_value = spec.key if key is True else key if isinstance(key, str) else None
        trace_value = spec.trace if trace is True else trace if isinstance(trace, str) else None
        if key_value is not None:
            all_headers[IDEMPOTENCY_KEY_HEADER] = key_value
        if trace_value is not None:
            all_headers[TRACE_ID_HEADER] = trace_value
        all_headers.update(headers or {})
        payload = spec.body if body is None else body
        started = time.perf_counter()
        answer = await self.send_raw(
            method or self.route.method,
            path or spec.path,
            identity,
            payload=None if content is not None else payload,
            content=content,
            headers=all_headers,
            no_trace=trace_value is None and "traceparent" not in all_headers,
            authorized=authorized,
        )
        echoed = answer.headers.get(TRACE_ID_HEADER) if answer is not None else None
        exchange = Exchange(
            RequestRecord(
                app=self.route.app_id,
                method=method or self.route.method,
                path=path or spec.path,
                sent=sent,
                status=answer.status_code if answer is not None else None,
                result="ok" if answer is not None else "no answer",
                route=self.case.route,
                trace_id=trace_value or echoed,
                idempotency_key=key_value,
                elapsed_ms=round((time.perf_counter() - started) * 1000.0, 3),
                request_headers=selected_headers(headers or {}),
                response_headers=selected_headers(answer.headers) if answer is not None else {},
            )
        )
        self.case.requests.append(exchange)
        return exchange, answer

    async def collection_count(self, tokens: Sequence[str], side: str = HOME) -> int | None:
        """How many items the route's collection (a GET at its path) lists that carry one
        of ``tokens``, read as ``side``'s tenant; ``None`` without a readable collection."""
        if self.route.collection is None:
            return None
        answer = await self.send_raw("GET", self.route.collection, self.identity(side))
        if not is_success(answer):
            return None
        items = listed_items(json_body(answer))
        if items is None:
            return None
        texts = [json.dumps(item) for item in items]
        return sum(1 for text in texts if any(token in text for token in tokens))

    async def send_raw(
        self,
        method: str,
        path: str,
        identity: str,
        *,
        payload: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        no_trace: bool = False,
        authorized: bool = True,
    ) -> httpx.Response | None:
        all_headers = synthetic_headers(identity)
        if authorized:
            all_headers.update(self.run.tokens[identity].authorization)
        all_headers.update(headers or {})
        kwargs: dict[str, Any] = {"headers": all_headers}
        if content is not None:
            kwargs["content"] = content
            all_headers.setdefault("Content-Type", "application/json")
        elif method.upper() not in ("GET", "HEAD", "OPTIONS"):
            kwargs["json"] = payload
        if no_trace:
            kwargs["extensions"] = {NO_TRACE_ID: True}
        try:
            return await self.run.client.request(
                method, self.run.url(self.route.app_id, path), **kwargs
            )
        except httpx.HTTPError:
            return None


CaseFunction = Callable[[RouteDriver, RouteState, Sequence[RouteState]], Awaitable[None]]


def listed_items(body: Any) -> list[Any] | None:
    """The items of a collection answer: a JSON list, or the first list in an object."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        return next((value for value in body.values() if isinstance(value, list)), None)
    return None
