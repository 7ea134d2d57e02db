"""What the PII scan counts as PII and what it does not (contract §14; the rules are in
secondconf.checks.compliance.pii's docstring)."""

from __future__ import annotations

import pytest
from secondconf.checks.compliance.pii import (
    CARD,
    EMAIL,
    IPV4,
    IPV6,
    PHONE,
    Canaries,
    find_patterns,
    find_pii,
    is_card_number,
    luhn_valid,
)


def _kinds(text: str) -> list[str]:
    return [hit.kind for hit in find_patterns(text)]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("contact: jane.doe+news@school.example.com", EMAIL),
        ("https://a8.example/v1/events?email=jane@school.example", EMAIL),
        ("client 198.51.100.23 connected", IPV4),
        ('{"client_ip": "10.1.2.3"}', IPV4),
        ("from 2001:db8::42 over v6", IPV6),
        ("peer fe80::1ff:fe23:4567:890a", IPV6),
        ("card 4111 1111 1111 1111 on file", CARD),
        ("pan=5500-0000-0000-0004", CARD),
        ("amex 378282246310005", CARD),
        ("call +44 20 7946 0958 today", PHONE),
        ("tel:+14155550132", PHONE),
        ("office (555) 010-0199", PHONE),
        ("mobile 555-010-0199", PHONE),
    ],
)
def test_pii_is_found(text: str, kind: str) -> None:
    assert _kinds(text) == [kind]


@pytest.mark.parametrize(
    "text",
    [
        "base_url https://127.0.0.1:8101/health answered",  # configuration, loopback
        "staging https://10.20.30.40:8443/ready",  # an address in a URL's host
        "https://[2001:db8::5]:8443/health and https://[::1]:9/",
        "bound to 127.0.0.1 and 0.0.0.0 and ::1 and ::",  # loopback, unspecified
        "redirect https://127.0.0.1:60731@evil.example/auth/callback",  # URL userinfo
        "trace 4bf92f3577b34da6a3ce929d0e0e4736 key 0af7651916cd43dd8448eb211c80319c",
        "trace 4111111111111111a3ce929d0e0e4736",  # digits inside hex
        "epoch_ms 1733232506123 and 1764772406123456",  # no issuer prefix
        "4111 1111 1111 1112",  # fails Luhn
        "ratio 0.4111111111111111",  # decimals
        "versions 3.11.2 1.65.2 2.0.0.1.4",  # dotted, but not addresses
        "2026-12-03T14:53:33+00:00 took 12:30:45",  # timestamps
        "tests/x.py::test_dead and tests/x.py::add",  # pytest node ids
        "| 200 | 404 1234 | 381 555 0199 |",  # digit groups in a table
        "uuid 123e4567-e89b-12d3-a456-426614174000",
        "aa:bb:cc:dd:ee:ff",  # a MAC address is not an IP
        '"afters": [{"name": "a8::<lambda>"}] and cafe::beef',  # names with colons
    ],
)
def test_what_is_not_pii(text: str) -> None:
    assert find_patterns(text) == []


def test_luhn_and_issuers() -> None:
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
    assert is_card_number("4242424242424242")
    assert not is_card_number("1234567812345670")  # Luhn-valid, no issuer starts with 1
    assert not is_card_number("42424242424242")  # Visa has no 14-digit numbers


def test_canaries_are_found_by_label_never_by_value() -> None:
    canaries = Canaries.new()
    assert canaries.client_ip.startswith("203.0.113.")
    text = (
        f"ua={canaries.user_agent}\nprompt={canaries.free_text}\n"
        f"ip={canaries.client_ip}\nname=Ms {canaries.surname}"
    )
    kinds = {hit.kind for hit in find_pii(text, canaries)}
    assert kinds >= {
        "canary user agent",
        "canary free text",
        "canary e-mail address",
        "canary name",
        "canary client address",
        EMAIL,
        PHONE,
        IPV4,
    }
    assert find_pii("nothing here", canaries) == []
    assert Canaries.new().token != canaries.token
