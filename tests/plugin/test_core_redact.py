"""core.redact: every known value is masked in every form the secret scan searches for.

The registry is process-wide, so each test registers values of its own.
"""

from __future__ import annotations

import base64
import secrets

from secondconf.core.redact import encodings, known_secrets, redact, register_secret


def unique(prefix: str = "") -> str:
    # Characters that URL-encoding and JSON-escaping change, so each form differs.
    # Random at both ends: no two values share a head or a tail.
    return f'{prefix}{secrets.token_hex(4)}-p@ss/w0rd+"q" \\ & ünï-{secrets.token_hex(4)}'


def test_every_encoding_of_a_value_is_masked_with_its_name() -> None:
    value = unique()
    register_secret("REDACT_TEST_ALL_FORMS", value)
    needles = [needle.decode("utf-8") for needle in encodings(value)]
    assert len(set(needles)) >= 10
    for needle in needles:
        masked = redact(f"before {needle} after")
        assert masked == "before [REDACTED:REDACT_TEST_ALL_FORMS] after", needle


def test_base64_inside_a_longer_text_is_masked_at_every_alignment() -> None:
    value = unique()
    register_secret("REDACT_TEST_BASE64", value)
    for prefix in (b"", b"u", b"qa-harness:"):
        header = "Basic " + base64.b64encode(prefix + value.encode() + b"!").decode()
        masked = redact(header)
        assert "[REDACTED:REDACT_TEST_BASE64]" in masked
        for needle in encodings(value):
            assert needle.decode() not in masked


def test_a_repr_as_pytest_shows_it_whole_or_cut_is_masked() -> None:
    value = unique()
    register_secret("REDACT_TEST_REPR", value)
    shown = repr(value)
    assert shown[1:-1] != value  # the backslash is escaped: not the raw form
    assert redact(f"client_secret = {shown}") == "client_secret = '[REDACTED:REDACT_TEST_REPR]'"
    cut = shown[:13] + "..." + shown[-12:]  # how saferepr shortens a long repr
    assert redact(f"assert {cut} == 'x'") == (
        "assert '[REDACTED:REDACT_TEST_REPR]...[REDACTED:REDACT_TEST_REPR]' == 'x'"
    )


def test_a_piece_shorter_than_eight_characters_stays() -> None:
    value = "abcdefghijklmnop-" + secrets.token_hex(8)
    register_secret("REDACT_TEST_PIECE", value)
    assert redact("x abcdefg y") == "x abcdefg y"
    assert redact("x abcdefgh y") == "x [REDACTED:REDACT_TEST_PIECE] y"
    assert redact(f"x {value[-7:]}") == f"x {value[-7:]}"


def test_text_without_a_known_value_is_unchanged() -> None:
    register_secret("REDACT_TEST_OTHER", unique())
    text = "OIDC_CLIENT_SECRET is named here, never shown: qa-harness 200 OK"
    assert redact(text) == text


def test_short_values_are_registered_but_not_masked() -> None:
    short = secrets.token_hex(3)  # 6 characters: would match ordinary text
    register_secret("REDACT_TEST_SHORT", short)
    assert known_secrets()["REDACT_TEST_SHORT"] == short
    assert redact(f"x {short} y") == f"x {short} y"


def test_empty_values_are_ignored() -> None:
    register_secret("REDACT_TEST_EMPTY", "")
    assert "REDACT_TEST_EMPTY" not in known_secrets()


def test_a_rotated_value_stays_masked() -> None:
    old, new = unique("old-"), unique("new-")
    register_secret("REDACT_TEST_ROTATED", old)
    register_secret("REDACT_TEST_ROTATED", new)
    assert known_secrets()["REDACT_TEST_ROTATED"] == new
    assert redact(f"{old} then {new}") == (
        "[REDACTED:REDACT_TEST_ROTATED] then [REDACTED:REDACT_TEST_ROTATED]"
    )


def test_a_value_that_contains_another_is_masked_whole() -> None:
    inner = secrets.token_hex(8)
    register_secret("REDACT_TEST_INNER", inner)
    register_secret("REDACT_TEST_OUTER", f"outer-{inner}-outer")
    assert redact(f"[outer-{inner}-outer]") == "[[REDACTED:REDACT_TEST_OUTER]]"
    assert redact(inner) == "[REDACTED:REDACT_TEST_INNER]"


def test_known_secrets_is_a_read_only_copy() -> None:
    register_secret("REDACT_TEST_COPY", unique())
    snapshot = known_secrets()
    assert "REDACT_TEST_COPY" in snapshot
    assert not hasattr(snapshot, "__setitem__")
