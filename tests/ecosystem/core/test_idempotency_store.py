"""The idempotency record store: claim, replay, mismatch, in flight, expiry, atomicity."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from reftarget.core.db import open_database
from reftarget.core.idempotency import (
    Claimed,
    FingerprintMismatch,
    IdempotencyScope,
    IdempotencyStore,
    InFlight,
    Replay,
    StoredResponse,
    canonical_json,
    request_fingerprint,
)


class HandClock:
    """Epoch seconds that move only when a test adds to ``seconds``."""

    def __init__(self) -> None:
        self.seconds = 1_800_000_000.0

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.seconds, UTC)

    def time(self) -> float:
        return self.seconds

    def monotonic(self) -> float:
        return self.seconds


SCOPE = IdempotencyScope("tenant_a", "POST", "/v1/items", "key-1")
RESPONSE = StoredResponse(201, [("content-type", "application/json")], b'{"id":"1"}')


@pytest.fixture
def clock() -> HandClock:
    return HandClock()


@pytest.fixture
def store(tmp_path: Path, clock: HandClock) -> IdempotencyStore:
    return IdempotencyStore(open_database(tmp_path / "a.sqlite3"), clock)


def claim_and_complete(store: IdempotencyStore, scope: IdempotencyScope = SCOPE) -> None:
    outcome = store.claim(scope, "fp")
    assert isinstance(outcome, Claimed)
    assert store.complete(scope, outcome.token, RESPONSE)


def test_a_completed_request_is_replayed(store: IdempotencyStore) -> None:
    claim_and_complete(store)
    assert store.claim(SCOPE, "fp") == Replay(RESPONSE)


def test_a_different_fingerprint_is_a_mismatch(store: IdempotencyStore) -> None:
    claim_and_complete(store)
    assert isinstance(store.claim(SCOPE, "other"), FingerprintMismatch)


def test_an_unfinished_request_is_in_flight(store: IdempotencyStore) -> None:
    assert isinstance(store.claim(SCOPE, "fp"), Claimed)
    assert isinstance(store.claim(SCOPE, "fp"), InFlight)


def test_the_in_flight_lock_expires_after_30_s(store: IdempotencyStore, clock: HandClock) -> None:
    first = store.claim(SCOPE, "fp")
    assert isinstance(first, Claimed)
    clock.seconds += 29.9
    assert isinstance(store.claim(SCOPE, "fp"), InFlight)
    clock.seconds += 0.2
    second = store.claim(SCOPE, "fp")
    assert isinstance(second, Claimed)
    assert not store.complete(SCOPE, first.token, RESPONSE), "the stale claim lost the key"


def test_an_expired_lock_is_not_taken_over_by_another_request(
    store: IdempotencyStore, clock: HandClock
) -> None:
    store.claim(SCOPE, "fp")
    clock.seconds += 31
    assert isinstance(store.claim(SCOPE, "other"), FingerprintMismatch)


def test_the_key_is_free_again_after_the_ttl(store: IdempotencyStore, clock: HandClock) -> None:
    claim_and_complete(store)
    clock.seconds += 899.9
    assert isinstance(store.claim(SCOPE, "other"), FingerprintMismatch)
    clock.seconds += 0.2
    assert isinstance(store.claim(SCOPE, "other"), Claimed)


def test_a_released_claim_lets_the_retry_run(store: IdempotencyStore) -> None:
    outcome = store.claim(SCOPE, "fp")
    assert isinstance(outcome, Claimed)
    store.release(SCOPE, outcome.token)
    assert isinstance(store.claim(SCOPE, "fp"), Claimed)


@pytest.mark.parametrize(
    "other",
    [
        IdempotencyScope("tenant_b", "POST", "/v1/items", "key-1"),
        IdempotencyScope("tenant_a", "PUT", "/v1/items", "key-1"),
        IdempotencyScope("tenant_a", "POST", "/v1/other", "key-1"),
        IdempotencyScope("tenant_a", "POST", "/v1/items", "key-2"),
    ],
)
def test_tenant_method_route_and_key_all_scope_a_record(
    store: IdempotencyStore, other: IdempotencyScope
) -> None:
    claim_and_complete(store)
    assert isinstance(store.claim(other, "fp"), Claimed)


def test_concurrent_claims_on_one_file_have_one_winner(tmp_path: Path, clock: HandClock) -> None:
    path = tmp_path / "shared.sqlite3"
    stores = [IdempotencyStore(open_database(path), clock) for _ in range(12)]
    barrier = threading.Barrier(len(stores))
    outcomes: list[object] = []
    lock = threading.Lock()

    def claim(store: IdempotencyStore) -> None:
        barrier.wait()
        outcome = store.claim(SCOPE, "fp")
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=claim, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(isinstance(o, Claimed) for o in outcomes) == 1
    assert sum(isinstance(o, InFlight) for o in outcomes) == len(stores) - 1


def test_reordered_json_has_the_same_fingerprint() -> None:
    a = request_fingerprint("POST", "/v1/items", b'{"a": 1, "b": [1, 2]}')
    b = request_fingerprint("POST", "/v1/items", b'{"b":[1,2],\n "a":1}')
    assert a == b


def test_a_changed_value_changes_the_fingerprint() -> None:
    a = request_fingerprint("POST", "/v1/items", b'{"amount": 100}')
    assert a != request_fingerprint("POST", "/v1/items", b'{"amount": 101}')


def test_a_body_that_is_not_json_is_fingerprinted_as_bytes() -> None:
    assert canonical_json(b"not json") == b"raw:not json"
    assert canonical_json(b"  ") == b""
