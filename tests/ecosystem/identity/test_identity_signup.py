"""A1's sign-up (OpenID Connect Prompt Create): synthetic namespace only, the §14 COPPA gate,
parental consent on record, and deleting an identity with its sessions and codes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from reftarget.identity import (
    SYNTHETIC_IDENTITIES,
    IdentityProvider,
    KeyStore,
    User,
    default_clients,
)
from reftarget.identity.accounts import COPPA_REFUSALS, synthetic_tenant
from reftarget.identity.provider import OAuthError, SignUpRefused

from tests.ecosystem.identity.a1_server import (
    PASSWORD,
    QA_SECRET,
    REDIRECT_URI,
    MovableClock,
    cheap_hash,
)


class Gate:
    """The coppa_age_gate switch as the app would hand it over."""

    on = True

    def __call__(self) -> bool:
        return self.on


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def provider(tmp_path: Path, gate: Gate) -> IdentityProvider:
    password_hash = cheap_hash(PASSWORD)
    return IdentityProvider(
        "https://127.0.0.1:9",
        KeyStore(tmp_path / "a1.sqlite3"),
        default_clients(QA_SECRET, [REDIRECT_URI]),
        {n: User(n, password_hash, t) for n, t in SYNTHETIC_IDENTITIES.items()},
        MovableClock(),
        signup_password_hash=password_hash,
        coppa_gate=gate,
    )


@pytest.mark.parametrize(
    ("name", "tenant"),
    [
        ("test_student_e2e_10", "tenant_qa_b2c"),
        ("test_student_e2e_99", "tenant_qa_b2c"),
        ("test_provider_e2e_01", "tenant_qa_b2b"),
        ("test_student_e2e_00", None),
        ("test_student_e2e_100", None),
        ("test_student_e2e_7", None),
        ("alice", None),
        ("TEST_STUDENT_E2E_10", None),
    ],
)
def test_the_synthetic_namespace_and_its_tenants(name: str, tenant: str | None) -> None:
    assert synthetic_tenant(name) == tenant


def test_a_sign_up_creates_the_account_in_its_tenant_and_starts_a_session(
    provider: IdentityProvider,
) -> None:
    result = provider.sign_up("test_student_e2e_10", PASSWORD, "20")
    assert result is not None
    token, session, created = result
    assert created
    assert (session.username, session.tid) == ("test_student_e2e_10", "tenant_qa_b2c")
    assert provider.session(token) == session
    again = provider.sign_up("test_student_e2e_10", PASSWORD, "")  # the form as a login
    assert again is not None
    assert again[2] is False


def test_a_signed_up_account_logs_in_and_gets_client_credentials_tokens(
    provider: IdentityProvider,
) -> None:
    with pytest.raises(OAuthError):
        provider.grant(
            provider.authenticate_client("qa-harness", QA_SECRET),
            {"grant_type": "client_credentials", "subject": "test_student_e2e_11"},
        )
    provider.sign_up("test_student_e2e_11", PASSWORD, "30")
    assert provider.login("test_student_e2e_11", PASSWORD) is not None
    assert provider.login("test_student_e2e_11", "wrong") is None
    answer = provider.grant(
        provider.authenticate_client("qa-harness", QA_SECRET),
        {"grant_type": "client_credentials", "subject": "test_student_e2e_11"},
    )
    assert provider.userinfo(answer["access_token"])["sub"] == "test_student_e2e_11"


@pytest.mark.parametrize("name", ["alice", "test_student_e2e_00", "qa-harness"])
def test_names_outside_the_namespace_are_refused(provider: IdentityProvider, name: str) -> None:
    with pytest.raises(SignUpRefused) as refused:
        provider.sign_up(name, PASSWORD, "20")
    assert (refused.value.status, refused.value.slug) == (403, "synthetic-namespace")
    assert provider.accounts.tenant(name) is None


def test_a_wrong_password_creates_nothing(provider: IdentityProvider) -> None:
    assert provider.sign_up("test_student_e2e_12", "wrong", "20") is None
    assert provider.owned("test_student_e2e_12") == 0


@pytest.mark.parametrize("age", ["", "twelve", "-1", "12.5", "131"])
def test_an_age_that_is_not_whole_years_is_a_400(provider: IdentityProvider, age: str) -> None:
    with pytest.raises(SignUpRefused) as refused:
        provider.sign_up("test_student_e2e_13", PASSWORD, age)
    assert refused.value.status == 400
    assert provider.owned("test_student_e2e_13") == 0


def test_under_13_without_consent_is_refused_and_only_counted(
    provider: IdentityProvider,
) -> None:
    for _ in range(2):
        with pytest.raises(SignUpRefused) as refused:
            provider.sign_up("test_student_e2e_14", PASSWORD, "12")
        assert (refused.value.status, refused.value.slug) == (403, "coppa-age-gate")
    assert provider.owned("test_student_e2e_14") == 0
    assert provider.accounts.counter(COPPA_REFUSALS) == 2
    assert provider.sign_up("test_student_e2e_14", PASSWORD, "13") is not None


def test_a_refused_child_leaves_no_row_naming_them_in_any_table(
    provider: IdentityProvider, tmp_path: Path
) -> None:
    with pytest.raises(SignUpRefused):
        provider.sign_up("test_student_e2e_18", PASSWORD, "7")
    with sqlite3.connect(tmp_path / "a1.sqlite3") as conn:
        tables = [
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        rows = [row for table in tables for row in conn.execute(f"SELECT * FROM {table}")]
    assert rows  # the keys and the counter are there
    assert not [row for row in rows if any("e2e_18" in str(value) for value in row)]


def test_under_13_with_consent_on_record_signs_up(provider: IdentityProvider) -> None:
    provider.accounts.record_consent("test_student_e2e_15")
    result = provider.sign_up("test_student_e2e_15", PASSWORD, "9")
    assert result is not None
    assert result[2]


def test_with_the_gate_off_under_13_signs_up_without_consent(
    provider: IdentityProvider, gate: Gate
) -> None:
    gate.on = False
    assert provider.sign_up("test_student_e2e_16", PASSWORD, "8") is not None
    assert provider.accounts.counter(COPPA_REFUSALS) == 0


def test_deleting_an_identity_removes_account_consent_and_sessions(
    provider: IdentityProvider,
) -> None:
    provider.accounts.record_consent("test_student_e2e_17")
    result = provider.sign_up("test_student_e2e_17", PASSWORD, "10")
    assert result is not None
    assert provider.owned("test_student_e2e_17") == 3  # account, consent, session
    assert provider.delete_identity("test_student_e2e_17") == 3
    assert provider.owned("test_student_e2e_17") == 0
    assert provider.session(result[0]) is None
    assert provider.login("test_student_e2e_17", PASSWORD) is None
