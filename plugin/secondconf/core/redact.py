"""Known secret values, process-wide, and masking them out of text.

Every :class:`~secondconf.core.secret.Secret` registers its value here when it is made,
so text on its way out (a report, a failure message) can be scrubbed by value with
:func:`redact`, whatever printed it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import MappingProxyType

_KNOWN: dict[str, str] = {}
_LOCK = threading.Lock()


def register_secret(name: str, value: str) -> None:
    """Remember ``value`` as the current value of the secret ``name`` (empty: ignored)."""
    if not value:
        return
    with _LOCK:
        _KNOWN[name] = value


def known_secrets() -> Mapping[str, str]:
    """A read-only copy of every registered secret, name to value."""
    with _LOCK:
        return MappingProxyType(dict(_KNOWN))


def redact(text: str) -> str:
    """``text`` with every known secret value replaced by ``[REDACTED:NAME]``."""
    # Longest first: a value that contains another is replaced whole.
    for name, value in sorted(known_secrets().items(), key=lambda item: -len(item[1])):
        text = text.replace(value, f"[REDACTED:{name}]")
    return text
