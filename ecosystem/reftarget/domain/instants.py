"""Instants as the domain stores them: UTC, RFC 3339 text with a trailing ``Z``.

Readings come from the injected :class:`reftarget.clock.Clock` (``utc_now``); ``rfc3339``
writes them and ``parse_instant`` reads them back.
"""

from __future__ import annotations

from datetime import UTC, datetime

from reftarget.clock import Clock

__all__ = ["parse_instant", "rfc3339", "utc_now"]


def utc_now(clock: Clock) -> datetime:
    """``clock.now()`` in UTC; a naive datetime is a wiring bug, so it raises."""
    moment = clock.now()
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("clock.now() must return a timezone-aware datetime")
    return moment.astimezone(UTC)


def rfc3339(moment: datetime) -> str:
    """RFC 3339 in UTC with a trailing ``Z`` (the form the contract's JSON uses)."""
    if moment.tzinfo is None:
        raise ValueError("cannot format a naive datetime as RFC 3339")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_instant(text: str) -> datetime:
    """Read back an instant written by :func:`rfc3339` (storage uses the same form)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"stored instant {text!r} has no timezone")
    return moment.astimezone(UTC)
