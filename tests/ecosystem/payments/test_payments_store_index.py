"""The store's index by type (``store_index``): every list answer is what a full scan gave.

A fresh server per test, so that each list holds exactly what the test stored: a create must
appear in its type's list, a delete must leave it, ``DELETE /_config/data`` must empty them
all, and a charge's refund totals (read through the index) must be its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import stripe
from reftarget.payments.charges import create_micro_charge

if TYPE_CHECKING:
    from conftest import MakeClient, StartServer


def _charge(client: stripe.StripeClient, key: str) -> str:
    charge = create_micro_charge(
        client, amount_cents=50, currency="usd", idempotency_key=key, metadata={"case": key}
    )
    return charge.payment_intent_id


def test_lists_hold_every_object_created_and_none_deleted(
    start_stripe_server: StartServer, client_for: MakeClient
) -> None:
    client = client_for(start_stripe_server().api_base)
    intents = {_charge(client, f"index-{n}") for n in range(3)}
    kept = client.v1.customers.create(params={"email": "kept@qa.test"})
    dropped = client.v1.customers.create(params={"email": "dropped@qa.test"})
    client.v1.customers.delete(dropped.id)

    listed = client.v1.payment_intents.list(params={"limit": 100})
    assert {intent.id for intent in listed.data} == intents
    assert [c.id for c in client.v1.customers.list(params={"limit": 100}).data] == [kept.id]
    assert len(client.v1.charges.list(params={"limit": 100}).data) == 3


def test_a_charge_counts_only_its_own_refunds(
    start_stripe_server: StartServer, client_for: MakeClient
) -> None:
    client = client_for(start_stripe_server().api_base)
    refunded, untouched = _charge(client, "refunded"), _charge(client, "untouched")
    client.v1.refunds.create(params={"payment_intent": refunded})

    charges = {c.payment_intent: c for c in client.v1.charges.list(params={"limit": 100}).data}
    assert (charges[refunded].amount_refunded, charges[refunded].refunded) == (50, True)
    assert (charges[untouched].amount_refunded, charges[untouched].refunded) == (0, False)


def test_emptying_the_server_empties_every_list(
    start_stripe_server: StartServer, client_for: MakeClient
) -> None:
    server = start_stripe_server()
    client = client_for(server.api_base)
    _charge(client, "before")
    httpx.delete(server.api_base + "/_config/data", timeout=5.0).raise_for_status()

    assert client.v1.payment_intents.list().data == []
    after = _charge(client, "after")
    assert [intent.id for intent in client.v1.payment_intents.list().data] == [after]
