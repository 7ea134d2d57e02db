"""A fake app that keeps contract §4, with switches that break one rule each.

It answers through ``httpx.MockTransport``, so the hardening cases run their real code
(the route driver, the checks on every answer) with no server: what the reference
target cannot be made to break (safe methods needing headers, a replay served before
authentication, …) is shown to FAIL here. One app, ``A2``, with a creator
(``POST /v1/things``), its reader (``GET /v1/things/{thing_id}``), a write on a thing
(``POST /v1/things/{thing_id}/close``) and a second route (``POST /v1/other``).
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

TOKENS = {"Bearer tok-t1": "t1", "Bearer tok-t2": "t2"}
FAULTS = (
    "headers_on_safe_methods",  # GET/HEAD/OPTIONS need the headers too (428)
    "malformed_accepted",  # a malformed key or trace id goes through
    "traceparent_ignored",  # a traceparent never supplies the trace id
    "conflict_accepted",  # X-Trace-Id and a different traceparent: no 400
    "replay_before_auth",  # a known key replays even without a valid token
    "scope_without_route",  # the key's scope ignores method and route
    "leaky_tenant_read",  # another tenant's thing is readable
    "cross_tenant_write",  # another tenant's thing can be closed
)
_TRACE = re.compile(r"[0-9a-f]{32}")
_KEY = re.compile(r"[\x21-\x2b\x2d-\x7e]{1,255}")
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "paths": {
        "/v1/things": {
            "post": {
                "x-contract-rules": True,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"example": {"name": "thing", "size": 1}}},
                },
            }
        },
        "/v1/things/{thing_id}": {"get": {}},
        "/v1/things/{thing_id}/close": {
            "post": {
                "x-contract-rules": True,
                "requestBody": {"content": {"application/json": {"example": {}}}},
            }
        },
        "/v1/other": {
            "post": {
                "x-contract-rules": True,
                "requestBody": {"content": {"application/json": {"example": {"note": "x"}}}},
            }
        },
    },
}


def _problem(status: int, detail: str, trace: str, **headers: str) -> httpx.Response:
    body = {"type": "about:blank", "title": "Problem", "status": status, "detail": detail}
    return httpx.Response(
        status,
        json=body,
        headers={"Content-Type": "application/problem+json", "X-Trace-Id": trace, **headers},
    )


class FakeContractApp:
    """The app's state (things, idempotency records) and its request handler."""

    def __init__(self, faults: set[str] | None = None) -> None:
        unknown = set(faults or ()) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}")
        self.faults = set(faults or ())
        self.things: dict[str, dict[str, Any]] = {}
        self.records: dict[tuple[str, ...], tuple[str, int, Any]] = {}
        self.executions = 0

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        trace = self._trace(request) or "f" * 32
        path, method = request.url.path, request.method
        if path == "/openapi.json":
            return httpx.Response(200, json=DOCUMENT)
        tenant = TOKENS.get(request.headers.get("authorization", ""))
        mutation = method == "POST"
        if "headers_on_safe_methods" in self.faults and method in ("GET", "HEAD", "OPTIONS"):
            missing = [h for h in ("X-Idempotency-Key", "X-Trace-Id") if h not in request.headers]
            if missing:
                return _problem(428, f"missing {missing}", trace, **{"Cache-Control": "no-store"})
        if method == "OPTIONS":
            return httpx.Response(204, headers={"X-Trace-Id": trace, "Allow": "GET, POST"})
        if tenant is None and not (mutation and "replay_before_auth" in self.faults):
            return _problem(401, "no valid token", trace)
        if not mutation:
            return self._read(path, tenant or "", trace)
        return self._mutate(request, path, tenant, trace)

    def _trace(self, request: httpx.Request) -> str | None:
        explicit = request.headers.get("x-trace-id")
        parent = request.headers.get("traceparent")
        match = _TRACEPARENT.fullmatch(parent or "")
        from_parent = match.group(1) if match and match.group(1) != "0" * 32 else None
        if "traceparent_ignored" in self.faults:
            from_parent = None
        if explicit is not None:
            return explicit if _TRACE.fullmatch(explicit) and explicit != "0" * 32 else None
        return from_parent

    def _read(self, path: str, tenant: str, trace: str) -> httpx.Response:
        match = re.fullmatch(r"/v1/things/([^/]+)", path)
        thing = self.things.get(match.group(1)) if match else None
        if thing is None:
            return _problem(405 if path in ("/v1/things", "/v1/other") else 404, "no", trace)
        if thing["tenant"] != tenant and "leaky_tenant_read" not in self.faults:
            return _problem(404, "no such thing for this tenant", trace)
        return httpx.Response(200, json=thing, headers={"X-Trace-Id": trace})

    def _mutate(
        self, request: httpx.Request, path: str, tenant: str | None, trace: str
    ) -> httpx.Response:
        key = request.headers.get("x-idempotency-key")
        explicit = request.headers.get("x-trace-id")
        parent = _TRACEPARENT.fullmatch(request.headers.get("traceparent", ""))
        lenient = "malformed_accepted" in self.faults
        if key is not None and not _KEY.fullmatch(key) and not lenient:
            return _problem(400, "malformed X-Idempotency-Key", trace)
        if explicit is not None and self._trace(request) is None and not lenient:
            return _problem(400, "malformed X-Trace-Id", trace)
        if (
            explicit is not None
            and parent is not None
            and parent.group(1) != explicit
            and "conflict_accepted" not in self.faults
            and "traceparent_ignored" not in self.faults
        ):
            return _problem(400, "X-Trace-Id and traceparent disagree", trace)
        usable_trace = explicit if lenient and explicit else self._trace(request)
        missing = [
            name
            for name, v in (("X-Idempotency-Key", key), ("X-Trace-Id", usable_trace))
            if v is None
        ]
        if missing:
            return _problem(
                428, f"missing {' and '.join(missing)}", trace, **{"Cache-Control": "no-store"}
            )
        template = re.sub(r"/v1/things/[^/]+/close", "/v1/things/{thing_id}/close", path)
        scope: tuple[str, ...] = (tenant or "", "POST", template, key or "")
        if "scope_without_route" in self.faults or "replay_before_auth" in self.faults:
            scope = (scope[0] if tenant else "*", key or "")
            if "replay_before_auth" in self.faults:
                scope = ("*", key or "")
        body = json.loads(request.content or b"null")
        fingerprint = json.dumps([template, body], sort_keys=True, separators=(",", ":"))
        if scope in self.records:
            stored, status, answer = self.records[scope]
            if stored != fingerprint:
                return _problem(422, "this key was used for another request", trace)
            return httpx.Response(
                status, json=answer, headers={"X-Trace-Id": trace, "Idempotent-Replayed": "true"}
            )
        if tenant is None:
            return _problem(401, "no valid token", trace)
        status, answer = self._execute(template, path, tenant, body)
        if status == 404:
            return _problem(404, "no such thing for this tenant", trace)
        self.records[scope] = (fingerprint, status, answer)
        return httpx.Response(status, json=answer, headers={"X-Trace-Id": trace})

    def _execute(self, template: str, path: str, tenant: str, body: Any) -> tuple[int, Any]:
        self.executions += 1
        if template == "/v1/things":
            thing_id = f"th_{len(self.things) + 1}"
            self.things[thing_id] = {"id": thing_id, "tenant": tenant, **(body or {})}
            return 201, self.things[thing_id]
        if template == "/v1/other":
            return 201, {"id": f"ot_{self.executions}", **(body or {})}
        thing = self.things.get(path.split("/")[3])
        if thing is None or (thing["tenant"] != tenant and "cross_tenant_write" not in self.faults):
            return 404, None
        thing["closed"] = True
        return 200, thing
