"""Argument checks shared by the money-handling modules.

Why strict: amounts arrive from JSON; ``True`` is an ``int`` and ``1.0`` looks like one,
and either slipping into a ledger is a bug that should fail at the boundary.
"""

from __future__ import annotations


def positive_int(name: str, value: object) -> int:
    """``value`` as an int ≥ 1, or TypeError/ValueError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def non_negative_int(name: str, value: object) -> int:
    """``value`` as an int ≥ 0, or TypeError/ValueError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    return value


def identifier(name: str, value: object) -> str:
    """A non-empty string id (tenant, user, provider ...)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")
    return value
