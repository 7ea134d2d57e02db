"""Durations as people write them, one syntax for every option and command.

A number alone is seconds (``90``); otherwise one or more number-and-unit parts, largest
unit first: ``500ms``, ``45s``, ``15m``, ``1.5h``, ``7d``, ``1h30m``. Values are finite
and capped (:data:`MAX_SECONDS`), so no caller overflows a ``datetime``.
"""

from __future__ import annotations

import re
from typing import Final

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS: Final = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_ORDER: Final = ("d", "h", "m", "s", "ms")
MAX_SECONDS: Final = 366 * 86400.0
"""Longer than any window, soak or approval this harness has a use for."""

_ADVICE: Final = "use e.g. 500ms, 45s, 15m, 1.5h, 7d or 1h30m"


def parse_duration(text: str) -> float:
    """Seconds in ``text``; ``ValueError`` naming the text when it is no duration."""
    stripped = text.strip()
    try:
        seconds = float(stripped) if re.fullmatch(r"\d+(?:\.\d+)?", stripped) else None
    except ValueError:
        seconds = None
    if seconds is None:
        seconds = _parse_parts(text, stripped)
    if seconds > MAX_SECONDS:
        raise ValueError(f"duration {text!r} is longer than {MAX_SECONDS / 86400:g} days")
    return seconds


def _parse_parts(text: str, stripped: str) -> float:
    position, total, last_rank = 0, 0.0, -1
    for match in _PART.finditer(stripped):
        rank = _ORDER.index(match.group(2))
        if match.start() != position or rank <= last_rank:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position, last_rank = match.end(), rank
    if not stripped or position != len(stripped):
        raise ValueError(f"{text!r} is not a duration; {_ADVICE}")
    return total
