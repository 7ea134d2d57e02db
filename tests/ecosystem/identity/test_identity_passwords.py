"""Password hashes for the login form and the synthetic login accounts."""

from __future__ import annotations

from reftarget.identity import SYNTHETIC_IDENTITIES, hash_password, synthetic_users, verify_password


def test_a_hash_verifies_its_password_only() -> None:
    stored = hash_password("s3cret")

    assert verify_password("s3cret", stored)
    assert not verify_password("s3cret ", stored)


def test_a_malformed_hash_never_matches() -> None:
    assert not verify_password("", "")
    assert not verify_password("x", "md5$abc")
    assert not verify_password("x", "scrypt$16384$8$1$not-base64!$AAAA")


def test_synthetic_users_log_in_to_their_own_tenants() -> None:
    users = synthetic_users("pw")

    assert {name: user.tenant for name, user in users.items()} == SYNTHETIC_IDENTITIES
    assert all(verify_password("pw", user.password_hash) for user in users.values())
