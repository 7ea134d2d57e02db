"""RFC 9457 problem details: every error the reference target returns has this shape.

``type`` is a URN per problem kind (stable, never dereferenced); ``title`` names the kind,
``detail`` says what was wrong with this request and how to fix it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus

from starlette.responses import Response

PROBLEM_MEDIA_TYPE = "application/problem+json"


def problem_type(slug: str) -> str:
    """The ``type`` URI of a problem kind, e.g. ``urn:reftarget:problem:missing-header``."""
    return f"urn:reftarget:problem:{slug}"


def problem_body(status: int, slug: str, detail: str, **extras: object) -> dict[str, object]:
    """The JSON object of a problem; ``extras`` become extension members."""
    return {
        "type": problem_type(slug),
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extras,
    }


def problem_response(
    status: int,
    slug: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extras: object,
) -> Response:
    """A complete ``application/problem+json`` response."""
    body = json.dumps(problem_body(status, slug, detail, **extras), separators=(",", ":"))
    return Response(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)
