"""Known secret values, process-wide, and masking them out of text.

Every :class:`~secondconf.core.secret.Secret` registers its value here when it is made
(and the pytest wiring registers the values it reads for the run), so text on its way
out (a failure message, captured output, a report) can be scrubbed by value with
:func:`redact`, whatever printed it. It is the last line of defence: secrets travel as
:class:`~secondconf.core.secret.Secret`, whose repr never shows the value.

A value is masked in every form a leak takes on its way to text, the same forms the
secret scan (:mod:`secondconf.checks.safety.secrets_scan`) searches files for
(:func:`encodings`):

* the raw value;
* URL-encoded (``quote`` with nothing safe, ``quote_plus``, and lowercase escapes);
* JSON-escaped (``json.dumps`` with and without ``ensure_ascii``, and with ``\\/``);
* base64 and base64url, at each of the three alignments a value can have inside a longer
  base64 text (a Basic ``Authorization`` header encodes ``user:secret``): only the
  characters that depend on the value's bytes alone are searched;
* hex, lower and upper case (a bytes dump).

Values shorter than :data:`MIN_SECRET_LENGTH` (8) are neither masked nor searched: a
value that short matches ordinary text (``qa``, ``true``, a port), and every secret the
harness or the reference target generates is 32+ characters. The scan lists such values
by name as not searched.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final
from urllib.parse import quote, quote_plus

MIN_SECRET_LENGTH: Final = 8

_KNOWN: dict[str, str] = {}  # name -> its current value
_NAMES: dict[str, str] = {}  # every value ever registered -> its name (a rotated key too)
_LOCK = threading.Lock()


@dataclass(frozen=True)
class _Masker:
    pattern: re.Pattern[str] | None  # None: no value long enough to mask
    names: Mapping[str, str]  # each form's text -> the secret's name


_masker: _Masker | None = None  # built on first use after a registration


def register_secret(name: str, value: str) -> None:
    """Remember ``value`` as the current value of the secret ``name`` (empty: ignored).

    A value registered before under the same name stays masked: a rotated key's old
    value is still a secret in text written before the rotation.
    """
    global _masker
    if not value:
        return
    with _LOCK:
        _KNOWN[name] = value
        if value not in _NAMES:
            _NAMES[value] = name
            _masker = None


def known_secrets() -> Mapping[str, str]:
    """A read-only copy of every registered secret, name to value."""
    with _LOCK:
        return MappingProxyType(dict(_KNOWN))


def redact(text: str) -> str:
    """``text`` with every known secret value, in each of its :func:`encodings`, replaced
    by ``[REDACTED:NAME]``."""
    masker = _current_masker()
    if masker.pattern is None:
        return text
    return masker.pattern.sub(lambda match: f"[REDACTED:{masker.names[match[0]]}]", text)


def encodings(value: str) -> dict[bytes, str]:
    """Each byte string that shows ``value`` in a file, mapped to the encoding's name (the
    first name wins where two encodings give the same bytes)."""
    raw = value.encode()
    forms: list[tuple[str, str | bytes]] = [
        ("raw", raw),
        ("url-encoded", quote(value, safe="")),
        ("url-encoded", quote_plus(value, safe="")),
        ("url-encoded", _lower_escapes(quote(value, safe=""))),
        ("json-escaped", json.dumps(value)[1:-1]),
        ("json-escaped", json.dumps(value, ensure_ascii=False)[1:-1]),
        ("json-escaped", json.dumps(value)[1:-1].replace("/", "\\/")),
        ("hex", raw.hex()),
        ("hex", raw.hex().upper()),
    ]
    for shift in range(3):
        # Bytes before the value change the first characters, bytes after it the last:
        # keep the characters made of the value's bits alone.
        start, end = -(-8 * shift // 6), 8 * (shift + len(raw)) // 6
        padded = b"\0" * shift + raw
        forms.append(("base64", base64.b64encode(padded)[start:end]))
        forms.append(("base64url", base64.urlsafe_b64encode(padded)[start:end]))
    needles: dict[bytes, str] = {}
    for name, form in forms:
        needle = form.encode() if isinstance(form, str) else form
        needles.setdefault(needle, name)
    return needles


def _lower_escapes(encoded: str) -> str:
    parts = encoded.split("%")
    return parts[0] + "".join("%" + p[:2].lower() + p[2:] for p in parts[1:])


def _current_masker() -> _Masker:
    global _masker
    with _LOCK:
        if _masker is None:
            names: dict[str, str] = {}
            for value, name in _NAMES.items():
                if len(value) >= MIN_SECRET_LENGTH:
                    for needle in encodings(value):
                        names.setdefault(needle.decode("utf-8"), name)
            # Longest first: a form that contains another is replaced whole.
            forms = sorted(names, key=len, reverse=True)
            pattern = re.compile("|".join(map(re.escape, forms))) if forms else None
            _masker = _Masker(pattern, MappingProxyType(names))
        return _masker
