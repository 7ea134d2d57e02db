"""How the domain's refusals look over HTTP (problem+json), shared by A3–A7.

``NotFound`` → 404 (another tenant's entity looks exactly like a missing one), ``Conflict``
→ 409, ``InsufficientCredits`` → 402, any other ``DomainError`` → 422, an unknown work
kind → 400, an academic-integrity refusal → 422 ``academic-integrity`` (§14).
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from reftarget.core.problem import problem_response
from reftarget.domain import Conflict, DomainError, InsufficientCredits, NotFound
from reftarget.domain.integrity import IntegrityRefusal
from reftarget.domain.work import UnknownWorkKind


def _not_found(request: Request, exc: Exception) -> Response:
    return problem_response(404, "not-found", str(exc))


def _conflict(request: Request, exc: Exception) -> Response:
    return problem_response(409, "conflict", str(exc))


def _insufficient(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InsufficientCredits)
    return problem_response(
        402,
        "insufficient-credits",
        str(exc),
        balance=exc.balance,
        requested=exc.requested,
    )


def _refused(request: Request, exc: Exception) -> Response:
    return problem_response(422, "business-rule", str(exc))


def _integrity(request: Request, exc: Exception) -> Response:
    return problem_response(422, "academic-integrity", str(exc))


def _unknown_kind(request: Request, exc: Exception) -> Response:
    return problem_response(400, "invalid-body", str(exc))


DOMAIN_ERROR_HANDLERS: dict[type[Exception], Callable[[Request, Exception], Response]] = {
    NotFound: _not_found,
    Conflict: _conflict,
    InsufficientCredits: _insufficient,
    IntegrityRefusal: _integrity,  # contract §14
    DomainError: _refused,
    UnknownWorkKind: _unknown_kind,
}
