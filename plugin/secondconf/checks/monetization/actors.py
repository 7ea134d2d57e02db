"""The synthetic identities the money checks act as, each with its own A1 token.

Every request is synthetic in every respect (contract §5): the synthetic tags, the
identity's bearer token, a fresh idempotency key per request and a fresh trace id that the
caller learns, so the events it causes can be found in A8 by trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from secondconf.contract.platform import SyntheticIdentity
from secondconf.contract.traceids import TRACE_ID_HEADER, new_idempotency_key, new_trace_id
from secondconf.core.secret import Secret
from secondconf.target.client import synthetic_headers
from secondconf.target.identity import AccessToken, TokenError, fetch_token_sync
from secondconf.target.map import SystemMap


class ActorError(Exception):
    """A synthetic identity could not act (no token, or the target did not answer)."""


@dataclass(frozen=True)
class Sent:
    """One request and what the target answered (``body`` is ``None`` if not JSON)."""

    app_id: str
    path: str
    trace_id: str
    status: int
    body: Any

    def field(self, name: str) -> Any:
        return self.body.get(name) if isinstance(self.body, dict) else None

    def outcome(self) -> str:
        """The answer in one line, for a violation that names it."""
        detail = self.field("detail") or self.field("title") or ""
        return f"{self.app_id} {self.path} answered {self.status}" + (
            f" ({detail})" if detail else ""
        )


class SyntheticActor:
    """Requests as one synthetic identity, through a client under the harness's rules."""

    def __init__(
        self,
        client: httpx.Client,
        system_map: SystemMap,
        client_secret: Secret,
        identity: SyntheticIdentity,
    ) -> None:
        self.client = client
        self.system_map = system_map
        self.identity = identity
        try:
            self.token: AccessToken = fetch_token_sync(
                client, system_map, client_secret, identity.value
            )
        except TokenError as error:
            raise ActorError(f"{identity.value}: {error}") from None

    def headers(self, trace_id: str) -> dict[str, str]:
        return {
            **synthetic_headers(self.identity, idempotency_key=new_idempotency_key()),
            **self.token.authorization,
            TRACE_ID_HEADER: trace_id,
        }

    def post(self, app_id: str, path: str, body: dict[str, Any]) -> Sent:
        trace_id = new_trace_id()
        url = self.system_map.apps[app_id].base_url + path
        try:
            answer = self.client.post(url, json=body, headers=self.headers(trace_id))
        except httpx.HTTPError as error:
            raise ActorError(f"{app_id} {path}: no answer ({type(error).__name__})") from None
        return Sent(app_id, path, trace_id, answer.status_code, _json(answer))

    def get(self, app_id: str, path: str) -> Sent:
        trace_id = new_trace_id()
        url = self.system_map.apps[app_id].base_url + path
        try:
            answer = self.client.get(
                url, headers={**self.token.authorization, TRACE_ID_HEADER: trace_id}
            )
        except httpx.HTTPError as error:
            raise ActorError(f"{app_id} {path}: no answer ({type(error).__name__})") from None
        return Sent(app_id, path, trace_id, answer.status_code, _json(answer))


def _json(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return None
