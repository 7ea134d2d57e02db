"""The keys of the HITL log's HMAC chain, read from the environment by name.

An unkeyed hash chain detects accidents (a truncated write, a hand edit that forgot the
hashes), not an editor who recomputes the hashes. With ``HITL_LOG_KEY`` set, every entry
also carries ``mac`` = HMAC-SHA256(key, previous entry's MAC ‖ the entry's canonical
JSON without its MAC) and ``key_id``, a fingerprint of the key it was written under: an
edit then needs the key, which the person editing the log file does not hold.

Rotation: put the new key in ``HITL_LOG_KEY`` and the old one in
``HITL_LOG_PREVIOUS_KEYS`` (comma-separated, each key verbatim); entries written under an
old key verify while that key is supplied, new entries are written under the new one.

Key values never leave this module: not in a message, a ``repr`` or the log (only the
fingerprint does). They are secrets like the target's: reading them registers each with
:func:`secondconf.core.redact.register_secret`, so every test report is masked of them,
and the final secret scan searches the run's outputs for them (:func:`key_secrets`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final

from secondconf.core.redact import register_secret

KEY_ENV: Final = "HITL_LOG_KEY"
PREVIOUS_KEYS_ENV: Final = "HITL_LOG_PREVIOUS_KEYS"
MIN_KEY_BYTES: Final = 16
KEY_ID_HEX: Final = 16
"""A key id is the first 16 hex digits (64 bits) of a domain-separated SHA-256 of the key."""

UNKEYED: Final = "unkeyed: detects accidents, not tampering"
_KEY_ADVICE: Final = "e.g. python -c 'import secrets; print(secrets.token_hex(32))'"


def key_secrets(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The keys' values by name, for masking and the final secret scan: ``HITL_LOG_KEY``
    and each previous key as ``HITL_LOG_PREVIOUS_KEYS[n]`` (from 1), unset ones left out.

    A value that is not UTF-8 (``os.environ`` holds such bytes as lone surrogates) is left
    out too, so neither masked nor searched: the masking and the scan work on text.
    """
    env = os.environ if environ is None else environ
    previous = [key for key in (env.get(PREVIOUS_KEYS_ENV) or "").split(",") if key]
    named = {KEY_ENV: env.get(KEY_ENV) or ""}
    named.update({f"{PREVIOUS_KEYS_ENV}[{n}]": key for n, key in enumerate(previous, 1)})
    return {name: value for name, value in named.items() if value and _is_utf8(value)}


def _is_utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def key_id(key: bytes) -> str:
    """The fingerprint written in each entry: names the key without revealing it."""
    return hashlib.sha256(b"secondconf-hitl-key-id\0" + key).hexdigest()[:KEY_ID_HEX]


class LogKeys:
    """The current key (writes and verifies) and previous keys (verify only), by key id.

    ``LogKeys()`` is the unkeyed case: entries carry no MAC, and a keyed entry is refused.
    """

    def __init__(self, current: bytes | None = None, previous: Sequence[bytes] = ()) -> None:
        if current is None and previous:
            raise ValueError(f"{PREVIOUS_KEYS_ENV} is set but {KEY_ENV} is not")
        by_id: dict[str, bytes] = {}
        for key in (*previous, *([current] if current is not None else [])):
            if len(key) < MIN_KEY_BYTES:
                raise ValueError(
                    f"a key in {KEY_ENV} or {PREVIOUS_KEYS_ENV} is shorter than "
                    f"{MIN_KEY_BYTES} bytes: use a random key, {_KEY_ADVICE}"
                )
            by_id[key_id(key)] = key
        self._by_id: Mapping[str, bytes] = MappingProxyType(by_id)
        self.current_id: str | None = None if current is None else key_id(current)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> LogKeys:
        """The keys named by ``HITL_LOG_KEY`` and ``HITL_LOG_PREVIOUS_KEYS``; empty is unset."""
        env = os.environ if environ is None else environ
        for name, value in key_secrets(env).items():
            register_secret(name, value)  # masked in every output, even if refused below
        current = env.get(KEY_ENV) or None
        previous = [key for key in (env.get(PREVIOUS_KEYS_ENV) or "").split(",") if key]
        # os.fsencode: the bytes the environment holds, even those that are not UTF-8.
        return cls(
            None if current is None else os.fsencode(current), [os.fsencode(k) for k in previous]
        )

    @property
    def keyed(self) -> bool:
        return self.current_id is not None

    def fingerprint(self) -> tuple[str | None, frozenset[str]]:
        """Which keys these are, by key id: a log verified under keys with the same
        fingerprint verifies the same way under these."""
        return self.current_id, frozenset(self._by_id)

    def knows(self, kid: str) -> bool:
        return kid in self._by_id

    def mac(self, kid: str, previous_mac: str, body: str) -> str:
        """HMAC-SHA256 under key ``kid`` of ``previous_mac`` (64 hex digits) ‖ ``body``."""
        message = previous_mac.encode("ascii") + body.encode("utf-8")
        return hmac.new(self._by_id[kid], message, hashlib.sha256).hexdigest()

    def describe(self) -> str:
        """What protects the log, for the report header and ``secondconf-hitl verify``."""
        if self.current_id is None:
            return f"{UNKEYED}; set {KEY_ENV} for an HMAC chain"
        return f"keyed: HMAC-SHA256, key id {self.current_id}"

    def __repr__(self) -> str:
        return f"LogKeys(current={self.current_id}, known={sorted(self._by_id)})"
