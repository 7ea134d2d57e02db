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
* hex, lower and upper case (a bytes dump);
* XML-escaped, as text and as an attribute value (a JUnit XML file);
* Python's ``repr`` and ``ascii`` of it, without the quotes (``--showlocals``, a failing
  assertion's operands: a backslash or a quote in the value is escaped there).

:func:`redact` also masks a value cut short the way pytest shows a long repr, as its head
and tail (``'p@ss/w0rd+"q...9Zq9Zq9'``): any prefix or suffix of at least
:data:`MIN_SECRET_LENGTH` characters of the value or of its repr. The scan does not search
for those pieces: a piece that short may be a prefix many keys share (``sk_test_``), which
is harmless to mask but would fail a run for nothing.

Values shorter than :data:`MIN_SECRET_LENGTH` (8) are neither masked nor searched: a
value that short matches ordinary text (``qa``, ``true``, a port), and every secret the
harness or the reference target generates is 32+ characters. The scan lists such values
by name as not searched.
"""

from __future__ import annotations

import base64
import html
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
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
    forms: Sequence[tuple[str, str]]  # (a whole form's text, the secret's name)
    cut_forms: Sequence[tuple[str, str]]  # (a form pytest may cut to head...tail, name)


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
    """``text`` with every known secret value, in each of its :func:`encodings` and as the
    head or tail of a cut repr, replaced by ``[REDACTED:NAME]``."""
    masker = _current_masker()
    spans: list[tuple[int, int, str]] = []
    for form, name in masker.forms:
        spans.extend((start, start + len(form), name) for start in _occurrences(text, form))
    for form, name in masker.cut_forms:
        spans.extend((start, end, name) for start, end in _pieces(text, form))
    return _masked(text, spans) if spans else text


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
        ("python-repr", repr(value)[1:-1]),
        ("python-repr", ascii(value)[1:-1]),
        ("xml-escaped", html.escape(value, quote=False)),
        ("xml-escaped", html.escape(value, quote=False).replace('"', "&quot;")),
        ("xml-escaped", html.escape(value, quote=True)),
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
            forms: dict[str, str] = {}
            cut_forms: dict[str, str] = {}
            for value, name in _NAMES.items():
                if len(value) >= MIN_SECRET_LENGTH:
                    for needle in encodings(value):
                        forms.setdefault(needle.decode("utf-8"), name)
                    for form in (value, repr(value)[1:-1]):
                        cut_forms.setdefault(form, name)
            _masker = _Masker(tuple(forms.items()), tuple(cut_forms.items()))
        return _masker


def _occurrences(text: str, needle: str) -> Iterator[int]:
    start = text.find(needle)
    while start != -1:
        yield start
        start = text.find(needle, start + 1)


def _pieces(text: str, form: str) -> Iterator[tuple[int, int]]:
    """Spans of ``text`` that are a prefix or a suffix of ``form`` of at least
    :data:`MIN_SECRET_LENGTH` characters (found from the form's first or last
    characters, then grown while the text goes on matching)."""
    head, tail = form[:MIN_SECRET_LENGTH], form[-MIN_SECRET_LENGTH:]
    for start in _occurrences(text, head):
        end = start + len(head)
        while end < len(text) and end - start < len(form) and text[end] == form[end - start]:
            end += 1
        yield start, end
    for start in _occurrences(text, tail):
        end = start + len(tail)
        while start > 0 and end - start < len(form) and text[start - 1] == form[start - end - 1]:
            start -= 1
        yield start, end


def _masked(text: str, spans: list[tuple[int, int, str]]) -> str:
    """``text`` with each run of overlapping spans replaced by one mask, named after the
    run's longest span."""
    pieces: list[str] = []
    done = 0
    spans.sort()
    index = 0
    while index < len(spans):
        start, end, name = spans[index]
        longest = end - start
        index += 1
        while index < len(spans) and spans[index][0] < end:
            _, other_end, other_name = spans[index]
            if other_end - spans[index][0] > longest:
                longest, name = other_end - spans[index][0], other_name
            end = max(end, other_end)
            index += 1
        pieces.append(text[done:start])
        pieces.append(f"[REDACTED:{name}]")
        done = end
    pieces.append(text[done:])
    return "".join(pieces)
