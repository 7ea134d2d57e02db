"""What a check sent and what came back: one :class:`RequestRecord` per request.

Every check that talks to the target (or, for the production-guard self-test, to a
recorder) lists its requests in its verdict's ``details["requests"]``, and the reports
show them (``idempotency_validation.md``). One type for all of them, so a report reads
every check's requests the same way. A record is evidence, never a credential: only the
headers in :data:`RECORDED_HEADERS` are kept (no ``Authorization``, ``Cookie``,
``Set-Cookie`` or ``Location``, which may carry an authorization code).

In a verdict a record travels as JSON (:meth:`RequestRecord.to_dict`): the six keys every
record has, and the optional ones only when set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

# Lowercase, as httpx.Headers iterates them; nothing here can carry a credential. The
# key and the trace id a request was sent with are fields of their own.
RECORDED_HEADERS: Final = frozenset(
    {
        "cache-control",
        "content-type",
        "idempotent-replayed",
        "traceparent",
        "x-trace-id",
    }
)


def selected_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers a record may keep: those named in :data:`RECORDED_HEADERS`."""
    return {
        name.lower(): value for name, value in headers.items() if name.lower() in RECORDED_HEADERS
    }


@dataclass(frozen=True)
class RequestRecord:
    """One request a check sent and what came back.

    ``status`` is the HTTP status, ``None`` when nothing answered, or a word where no HTTP
    answer is the point (the production guard ``refused`` it; the name of the error that
    stopped it). ``result`` is ``ok`` or what was wrong with the answer; ``route`` is the
    route label of the case the request served (``A2 POST /v1/checkout``); ``note`` says
    what else the request showed (the events an A8 read returned).
    """

    app: str  # who was asked: an app id, or "harness" for a self-test
    method: str
    path: str  # the path as sent; never a query string (it may carry a code or state)
    sent: str  # what the request was, in words: "no X-Idempotency-Key"
    status: int | str | None
    result: str = "ok"
    route: str | None = None
    trace_id: str | None = None
    idempotency_key: str | None = None
    elapsed_ms: float | None = None
    request_headers: Mapping[str, str] = field(default_factory=dict)
    response_headers: Mapping[str, str] = field(default_factory=dict)
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "app": self.app,
            "method": self.method,
            "path": self.path,
            "sent": self.sent,
            "status": self.status,
            "result": self.result,
        }
        optional: dict[str, Any] = {
            "route": self.route,
            "trace_id": self.trace_id,
            "idempotency_key": self.idempotency_key,
            "elapsed_ms": self.elapsed_ms,
            "request_headers": dict(self.request_headers) or None,
            "response_headers": dict(self.response_headers) or None,
            "note": self.note,
        }
        row.update({name: value for name, value in optional.items() if value is not None})
        return row

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RequestRecord:
        return cls(
            app=data["app"],
            method=data["method"],
            path=data["path"],
            sent=data["sent"],
            status=data["status"],
            result=data.get("result", "ok"),
            route=data.get("route"),
            trace_id=data.get("trace_id"),
            idempotency_key=data.get("idempotency_key"),
            elapsed_ms=data.get("elapsed_ms"),
            request_headers=dict(data.get("request_headers") or {}),
            response_headers=dict(data.get("response_headers") or {}),
            note=data.get("note"),
        )
