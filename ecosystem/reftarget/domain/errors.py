"""Exceptions the domain raises when a business rule says no.

Why a small hierarchy: the HTTP layer maps by base class (``NotFound`` → 404, ``Conflict``
→ 409, any other ``DomainError`` → 4xx of its choosing) without knowing every rule.
Malformed arguments (wrong type, negative cents, unknown arm) stay ``TypeError`` /
``ValueError``.
"""

from __future__ import annotations

__all__ = ["Conflict", "DomainError", "NotFound"]


class DomainError(Exception):
    """A well-formed request that the business rules refuse."""


class NotFound(DomainError, LookupError):
    """The named entity does not exist (or not in the caller's tenant, which looks the same)."""


class Conflict(DomainError):
    """The request contradicts state that already exists."""
