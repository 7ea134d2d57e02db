"""RequestRecord: the one request row of every verdict, as JSON and back, credentials left out."""

from __future__ import annotations

import json

from secondconf.engine.evidence import RequestRecord, selected_headers

FULL = RequestRecord(
    app="A2",
    method="POST",
    path="/v1/checkout",
    sent="same key, different body",
    status=422,
    result="answered 201, not 422",
    route="A2 POST /v1/checkout",
    trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
    idempotency_key="qa-1",
    elapsed_ms=12.5,
    request_headers={"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
    response_headers={"idempotent-replayed": "true", "content-type": "application/json"},
    note="the original still replays",
)


def test_a_full_record_round_trips_through_json() -> None:
    assert RequestRecord.from_dict(json.loads(json.dumps(FULL.to_dict()))) == FULL


def test_a_bare_record_is_the_six_keys_every_report_reads() -> None:
    bare = RequestRecord("A1", "GET", "/authorize", "authorization request", 200)

    assert bare.to_dict() == {
        "app": "A1",
        "method": "GET",
        "path": "/authorize",
        "sent": "authorization request",
        "status": 200,
        "result": "ok",
    }
    assert RequestRecord.from_dict(bare.to_dict()) == bare


def test_a_status_may_be_a_word_or_missing() -> None:
    refused = RequestRecord("harness", "POST", "/x", "no X-Test-Run", "refused")
    unanswered = RequestRecord("A3", "GET", "/y", "probe", None, "no answer")

    assert RequestRecord.from_dict(refused.to_dict()).status == "refused"
    assert RequestRecord.from_dict(unanswered.to_dict()).status is None


def test_only_headers_that_carry_no_credential_are_kept() -> None:
    sent = {
        "Authorization": "Bearer secret-token",
        "Cookie": "a1_session=opaque",
        "Set-Cookie": "a1_session=opaque; Secure",
        "Location": "https://a5/callback?code=abc",
        "X-Trace-Id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "Idempotent-Replayed": "true",
    }

    kept = selected_headers(sent)

    assert kept == {
        "x-trace-id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "idempotent-replayed": "true",
    }
