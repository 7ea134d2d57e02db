"""RFC 9457 problem+json responses for A8's routes.

A local copy until ``reftarget.core``'s helper exists (it will be folded into that one);
the shape is contract §3's: ``type``, ``title``, ``status``, ``detail``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from starlette.responses import JSONResponse

PROBLEM_JSON: Final = "application/problem+json"
PROBLEM_BASE: Final = "https://reftarget.invalid/problems/"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    slug: str,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response; ``extra`` members (e.g. ``problems``) go into the body."""
    body = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}
    return JSONResponse(
        body | extra,
        status_code=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
        media_type=PROBLEM_JSON,
    )
