"""Idempotent mutations (contract §4) around every app's handlers.

Policy (also in docs/reference-target.md):

* 2xx, 3xx and 4xx answers from a handler are stored and replayed for 15 minutes
  (same status, same body, ``Location``/``ETag``/``Content-Type``/``Cache-Control`` kept,
  plus ``Idempotent-Replayed: true``); the IETF draft's "the result, success or error".
* 5xx answers and handler crashes are *not* stored: the claim is released and a retry with
  the same key runs again. A 5xx here means "did not complete" (a dependency failed); the
  handlers make re-running safe by passing derived idempotency keys downstream.
* 401/400/428 come from earlier layers and are never stored (nothing ran).
* Request bodies over 1 MiB are refused with 413 before anything is claimed.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reftarget.core.context import SCOPE_KEY, RequestContext
from reftarget.core.faults import Faults
from reftarget.core.idempotency import (
    Claimed,
    FingerprintMismatch,
    IdempotencyScope,
    IdempotencyStore,
    InFlight,
    Replay,
    StoredResponse,
    request_fingerprint,
)
from reftarget.core.problem import problem_response

MAX_BODY_BYTES = 1024 * 1024
REPLAYED_HEADER = "Idempotent-Replayed"
_REPLAYABLE_HEADERS = frozenset({"content-type", "location", "etag", "cache-control"})


class BodyTooLarge(Exception):
    """The request body exceeds ``MAX_BODY_BYTES``."""


class ClientGone(Exception):
    """The client disconnected before its whole body was read: nothing may be claimed."""


async def read_body(receive: Receive) -> bytes:
    """The whole request body (the idempotency fingerprint needs it before the handler runs).

    A client that went away first (uvicorn then answers ``http.disconnect``, even for a
    body it had already buffered) raises :class:`ClientGone`: claiming the key for the
    empty or partial body would store that request's answer, and the caller's retry with
    the real body would get a 422.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replaying_receive(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the buffered body over once, then defers to the real one."""
    delivered = False

    async def wrapped() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return wrapped


class ResponseRecorder:
    """Wraps ``send``: passes every message on and keeps a copy for the store."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            self.headers = [
                (k.decode("latin-1"), v.decode("latin-1"))
                for k, v in message.get("headers", [])
                if k.decode("latin-1").lower() in _REPLAYABLE_HEADERS
            ]
        elif message["type"] == "http.response.body":
            self.body.extend(message.get("body", b""))
        await self._send(message)


def replay_response(stored: StoredResponse) -> Response:
    """The stored answer again, marked as a replay."""
    headers = dict(stored.headers)
    headers[REPLAYED_HEADER] = "true"
    return Response(stored.body, status_code=stored.status, headers=headers)


class IdempotencyMiddleware:
    """ASGI middleware; see the module docstring for the policy."""

    def __init__(
        self,
        app: ASGIApp,
        store: IdempotencyStore,
        faults: Faults,
        applies: Callable[[RequestContext], bool],
    ) -> None:
        self.app = app
        self.store = store
        self.faults = faults
        self.applies = applies

    def _scope_of(self, context: RequestContext, key: str) -> IdempotencyScope:
        tenant = (context.tenant_id or "") if self.faults.rule_enabled("tenant_scope") else "*"
        if not self.faults.rule_enabled("dedupe_without_trace"):
            key = f"{key}\x1f{context.trace_id}"
        return IdempotencyScope(tenant, context.method, context.route or context.path, key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        context = scope.get(SCOPE_KEY)
        if (
            not isinstance(context, RequestContext)
            or context.idempotency_key is None
            or not self.applies(context)
            or not self.faults.rule_enabled("dedupe")
        ):
            await self.app(scope, receive, send)
            return
        try:
            body = await read_body(receive)
        except ClientGone:
            return  # no one to answer, and nothing claimed
        except BodyTooLarge:
            response = problem_response(
                413, "body-too-large", f"Request bodies are limited to {MAX_BODY_BYTES} bytes."
            )
            await response(scope, receive, send)
            return
        record_scope = self._scope_of(context, context.idempotency_key)
        fingerprint = request_fingerprint(context.method, context.route or context.path, body)
        outcome = self.store.claim(record_scope, fingerprint)
        if isinstance(outcome, Replay):
            await replay_response(outcome.response)(scope, receive, send)
        elif isinstance(outcome, FingerprintMismatch):
            await problem_response(
                422,
                "idempotency-key-reused",
                "This X-Idempotency-Key was already used for a different request within the "
                "last 15 minutes; use a new key for a new request.",
            )(scope, receive, send)
        elif isinstance(outcome, InFlight):
            await problem_response(
                409,
                "idempotency-key-in-flight",
                "A request with this X-Idempotency-Key is still being processed; retry the "
                "same request shortly to get its result.",
                headers={"Retry-After": "1"},
            )(scope, receive, send)
        else:
            await self._run_claimed(scope, receive, send, body, record_scope, outcome)

    async def _run_claimed(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        body: bytes,
        record_scope: IdempotencyScope,
        claim: Claimed,
    ) -> None:
        recorder = ResponseRecorder(send)
        try:
            await self.app(scope, replaying_receive(body, receive), recorder)
        except BaseException:
            self.store.release(record_scope, claim.token)
            raise
        if recorder.status is None or recorder.status >= 500:
            self.store.release(record_scope, claim.token)
            return
        self.store.complete(
            record_scope,
            claim.token,
            StoredResponse(recorder.status, recorder.headers, bytes(recorder.body)),
        )
