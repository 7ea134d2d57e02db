"""The one RFC 3339 form every telemetry event uses, and strict parsing of it.

Readings come from the injected :class:`reftarget.clock.Clock`; this module formats and
parses them, and turns them into exact integers for range queries.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with millisecond precision and a trailing ``Z``.

    Milliseconds keep events short and sort correctly as text; a naive datetime is refused
    because guessing its zone is how off-by-hours bugs start.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("timestamp must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_timestamp(text: str, *, utc_only: bool = False) -> datetime:
    """Parse strict RFC 3339 (``datetime.fromisoformat`` alone also takes non-RFC forms).

    ``utc_only`` accepts only ``Z`` or ``+00:00`` (event timestamps); queries may use any
    offset. Fractions beyond microseconds are truncated. Raises ``ValueError`` with a reason.
    """
    match = _RFC3339.match(text)
    if match is None:
        hint = " (a '+' in a query string must be sent as %2B)" if " " in text else ""
        raise ValueError(f"not an RFC 3339 date-time: {text[:64]!r}{hint}")
    year, month, day, hour, minute, second, frac, zulu, sign, off_h, off_m = match.groups()
    if int(second) == 60:
        raise ValueError("leap seconds are not supported")
    if zulu:
        tz = UTC
    else:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        if sign == "-" and offset == timedelta(0):
            raise ValueError("-00:00 means 'offset unknown' in RFC 3339; use Z")
        if offset >= timedelta(hours=24):
            raise ValueError("UTC offset out of range")
        tz = timezone(-offset if sign == "-" else offset)
    if utc_only and tz is not UTC and tz.utcoffset(None) != timedelta(0):
        raise ValueError("must be UTC (Z or +00:00)")
    micro = int((frac or "0").ljust(6, "0")[:6])
    moment = datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=tz
    )
    return moment.astimezone(UTC)


def to_micros(moment: datetime) -> int:
    """Integer microseconds since the epoch: exact, unlike a float, for range queries."""
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
