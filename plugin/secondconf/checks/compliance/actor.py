"""Synthetic identities acting on the target, for the compliance checks (contract §5, §14).

Each request is synthetic in every respect: the synthetic tags, the identity named in
``X-Synthetic-Identity`` and a bearer token A1 issued for it (``client_credentials`` with
``subject``), a fresh idempotency key on every mutation and a trace id the sampler keeps
at its lowest rate (0.1), so A8 must hold every event the request causes. A request that
could not be sent (A1 gave no token, the target did not answer, the production guard
refused it) is ``None`` with the reason in :attr:`Actor.problems`, never an exception.

The routes the checks drive are a harness extension of the contract (docs/contract.md,
"Harness extension: compliance"): A5's activation, spend and balance, A4's work.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any, Final

import httpx

from secondconf.contract.platform import SYNTHETIC_HEADERS
from secondconf.contract.traceids import (
    IDEMPOTENCY_KEY_HEADER,
    TRACE_ID_HEADER,
    new_idempotency_key,
    new_sampled_in_trace_id,
)
from secondconf.core.secret import Secret
from secondconf.target.a8 import A8Client
from secondconf.target.client import SYNTHETIC_IDENTITY_HEADER, ProductionWriteRefused
from secondconf.target.identity import AccessToken, TokenError, fetch_token
from secondconf.target.json_answer import json_body
from secondconf.target.map import OPENAPI_PATH, SystemMap

LOWEST_SAMPLE_RATE: Final = 0.1
ACTIVATIONS: Final = ("A5", "/v1/activations")
SPEND: Final = ("A5", "/v1/credits/spend")
BALANCE: Final = ("A5", "/v1/credits")
WORK: Final = ("A4", "/v1/work")
EVENT_DEADLINE_S: Final = 15.0  # for an event a request caused to reach A8
POLL_S: Final = 0.2


class Actor:
    """Sends requests to the target's apps as synthetic identities (tokens cached)."""

    def __init__(self, client: httpx.AsyncClient, system_map: SystemMap, secret: Secret) -> None:
        self.client = client
        self.system_map = system_map
        self._secret = secret
        self._tokens: dict[str | None, AccessToken | None] = {}
        self.problems: list[str] = []

    async def token(self, subject: str | None) -> AccessToken | None:
        """A1's token for ``subject`` (``None``: the QA client itself), or ``None``."""
        if subject not in self._tokens:
            try:
                self._tokens[subject] = await fetch_token(
                    self.client, self.system_map, self._secret, subject
                )
            except TokenError as error:
                self.problems.append(f"no token for {subject or 'the QA client'}: {error}")
                self._tokens[subject] = None
        return self._tokens[subject]

    def url(self, app_id: str, path: str) -> str:
        return self.system_map.apps[app_id].base_url + path

    async def send(
        self,
        method: str,
        route: tuple[str, str],
        subject: str | None,
        *,
        body: Any = None,
        trace_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response | None:
        """``method`` on ``route`` (app id, path) as ``subject``; ``None`` if not sent."""
        app_id, path = route
        token = await self.token(subject)
        if token is None:
            return None
        sent = {
            **SYNTHETIC_HEADERS,
            **token.authorization,
            TRACE_ID_HEADER: trace_id or new_sampled_in_trace_id(LOWEST_SAMPLE_RATE),
            **(headers or {}),
        }
        if subject is not None:
            sent[SYNTHETIC_IDENTITY_HEADER] = subject
        if method != "GET":
            sent[IDEMPOTENCY_KEY_HEADER] = new_idempotency_key()
        label = f"{method} {app_id} {path} as {subject or 'the QA client'}"
        try:
            return await self.client.request(
                method, self.url(app_id, path), json=body, headers=sent
            )
        except ProductionWriteRefused as refused:
            self.problems.append(f"{label}: not sent ({refused})")
        except httpx.HTTPError as error:
            self.problems.append(f"{label}: no answer ({type(error).__name__})")
        return None


def status(response: httpx.Response | None) -> str:
    """How a response reads in a finding: its status, or that none came."""
    return "no answer" if response is None else str(response.status_code)


def problem_type(response: httpx.Response | None) -> str | None:
    """The ``type`` of an ``application/problem+json`` answer, else ``None``."""
    if response is None:
        return None
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return None
    body = json_body(response)
    kind = body.get("type") if isinstance(body, dict) else None
    return kind if isinstance(kind, str) else None


def refusal_problems(
    label: str, answer: httpx.Response | None, expected: int, type_suffix: str
) -> list[str]:
    """How an answer falls short of the refusal §14 asks for: status ``expected`` with
    problem+json whose ``type`` ends ``type_suffix`` (no finding: it is one)."""
    if answer is None or answer.status_code != expected:
        return [f"{label}: answered {status(answer)}, not {expected}"]
    kind = problem_type(answer)
    if kind is None:
        return [f"{label}: the {expected} is not application/problem+json"]
    if not kind.endswith(type_suffix):
        return [f"{label}: problem type {kind!r} does not end {type_suffix!r}"]
    return []


async def event_arrives(a8: A8Client, trace_id: str, event: str) -> bool:
    """Whether A8 comes to hold ``event`` of ``trace_id`` within :data:`EVENT_DEADLINE_S`
    (polled). Raises :class:`~secondconf.target.a8.TelemetryError` if A8 cannot be read."""
    deadline = time.monotonic() + EVENT_DEADLINE_S
    while not (await a8.raw_events(trace_id=trace_id, event=event)).items:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(POLL_S)
    return True


async def work_example(actor: Actor) -> dict[str, Any] | None:
    """The JSON example A5's OpenAPI document gives for a spend (the work kind and units
    the checks ask for), or ``None`` with the reason in ``actor.problems``."""
    app_id, path = SPEND
    try:
        document = (await actor.client.get(actor.url(app_id, OPENAPI_PATH))).json()
        example = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        example = example["example"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        actor.problems.append(f"{app_id}'s OpenAPI document gives no JSON example for {path}")
        return None
    if not isinstance(example, dict) or not isinstance(example.get("kind"), str):
        actor.problems.append(f"{app_id}'s example for {path} names no work kind")
        return None
    return {"kind": example["kind"], "units": 1}


IDENTITIES: Final = "/v1/synthetic-identities/"  # on A1 (harness extension of §5)


async def identity_remains(actor: Actor, subject: str) -> bool | None:
    """Whether A1 still holds anything of ``subject`` (200), nothing (404), or ``None``
    when it could not say."""
    answer = await actor.send("GET", ("A1", IDENTITIES + subject), None)
    if answer is None or answer.status_code not in (200, 404):
        actor.problems.append(f"A1 GET {IDENTITIES}{subject} answered {status(answer)}")
        return None
    return answer.status_code == 200


async def delete_identity(actor: Actor, subject: str) -> bool:
    """Delete ``subject`` with everything it owns (204, also when nothing existed)."""
    answer = await actor.send("DELETE", ("A1", IDENTITIES + subject), None)
    if answer is None or answer.status_code != 204:
        actor.problems.append(f"A1 DELETE {IDENTITIES}{subject} answered {status(answer)}")
        return False
    return True
