"""One covered route, walked one request at a time, for checks that move a key through
time (the TTL boundary, the idempotency state machine).

Every such check uses the same route: of the covered POSTs a client can send on their own
(no path parameter, no body field naming another resource) whose one execution causes
business events in A8 (the hardening run's baselines say which, so
that side effects are counted, not inferred), the one whose baseline request was quickest.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from secondconf.checks.hardening.effects import await_marker, business_effects, events_by_trace
from secondconf.checks.hardening.model import HardeningRun, new_trace
from secondconf.contract.platform import SyntheticIdentity
from secondconf.contract.traceids import IDEMPOTENCY_KEY_HEADER, TRACE_ID_HEADER
from secondconf.core.clock import SystemClock
from secondconf.core.secret import Secret
from secondconf.engine.evidence import RequestRecord
from secondconf.target.a8 import A8Client
from secondconf.target.client import harness_client, harness_sync_client, synthetic_headers
from secondconf.target.identity import fetch_token_sync
from secondconf.target.map import OPENAPI_PATH, SystemMap
from secondconf.target.routes import MutatingRoute, discover_routes, prepared_body, unique_token


class NoRouteError(Exception):
    """No route fits the check: one line says why."""


@dataclass(frozen=True)
class Sent:
    """One request of a walk: its key, trace id and what came back."""

    key: str
    trace: str
    status: int
    body: Any
    replayed: bool

    @property
    def fresh(self) -> bool:
        """A 2xx that is not a replay: the request was executed."""
        return 200 <= self.status < 300 and not self.replayed

    def record(self, app_id: str, route: MutatingRoute, template: str, sent: str) -> RequestRecord:
        """This request as evidence: what was sent, its answer, route, key and trace id."""
        return RequestRecord(
            app=app_id,
            method=route.method,
            path=template,
            sent=sent,
            status=self.status,
            result="replayed" if self.replayed else "executed" if self.fresh else "refused",
            route=route.label,
            trace_id=self.trace,
            idempotency_key=self.key,
        )


def countable_route(run: HardeningRun) -> str:
    """The label of the route such checks use (the quickest of those that qualify, since
    they walk it many times); NoRouteError if there is none."""
    candidates = [label for label in sorted(run.walkable) if run.baselines.get(label)]
    if not candidates:
        raise NoRouteError(
            "no covered POST route without parameters or references causes countable events"
        )
    return min(candidates, key=lambda label: run.baseline_ms.get(label, float("inf")))


class RouteClient:
    """Requests on one route as the synthetic student, with the harness's client."""

    def __init__(self, system_map: SystemMap, env: str, client_secret: Secret, label: str) -> None:
        self.system_map = system_map
        self.env = env
        self.app_id, _, self.template = label.split(" ", 2)
        self._client = harness_sync_client(system_map, env=env, timeout_s=15.0)
        base = system_map.apps[self.app_id].base_url
        self._url = base + self.template
        try:
            document = self._client.get(base + OPENAPI_PATH).json()
            found = [r for r in discover_routes(self.app_id, document).covered if r.label == label]
            if not found:
                raise NoRouteError(f"{label} is not a covered route of {self.app_id}'s document")
            self.route: MutatingRoute = found[0]
            identity = SyntheticIdentity.STUDENT
            token = fetch_token_sync(self._client, system_map, client_secret, str(identity))
        except BaseException:
            self._client.close()
            raise
        self._headers = {**synthetic_headers(identity), **token.authorization}

    def __enter__(self) -> RouteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    def new_body(self) -> Any:
        """The route's example, made unique."""
        return prepared_body(self.route, unique_token(), {})

    def send(self, key: str, body: Any) -> Sent:
        """POST ``body`` with ``key`` and a fresh sampled-in trace id."""
        trace = new_trace()
        answer = self._client.post(
            self._url,
            json=body,
            headers={**self._headers, IDEMPOTENCY_KEY_HEADER: key, TRACE_ID_HEADER: trace},
        )
        try:
            payload = answer.json()
        except ValueError:
            payload = answer.text
        return Sent(
            key=key,
            trace=trace,
            status=answer.status_code,
            body=payload,
            replayed=answer.headers.get("Idempotent-Replayed", "").lower() == "true",
        )

    def effects(
        self, sent: Sequence[Sent], a8_key: Secret, deadline_s: float
    ) -> list[Counter[str]]:
        """The business events each of these requests caused, counted in A8 after one
        marker (in the order of ``sent``)."""

        async def count() -> list[Counter[str]]:
            async with harness_client(self.system_map, env=self.env) as client:
                a8 = A8Client(client, self.system_map, a8_key)
                await await_marker(
                    client, self.system_map, a8, self.app_id, SystemClock(), deadline_s
                )
                events = await events_by_trace(a8, sorted({s.trace for s in sent}))
                return [business_effects(events, [(s.trace, s.key)]) for s in sent]

        return asyncio.run(count())
