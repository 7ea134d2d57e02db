"""Reading and checking JSON request bodies; a bad body becomes one 400 problem.

Handlers call ``json_object`` and the typed field readers; an ``InvalidBody`` raised
anywhere in a handler is answered by the factory as ``400 invalid-body`` naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request

MAX_TEXT = 200


class InvalidBody(ValueError):
    """The request body is not what the endpoint takes; the message says why."""


async def json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object (an empty body is an empty object)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise InvalidBody("the body is not valid JSON") from exc
    if not isinstance(document, dict):
        raise InvalidBody("the body must be a JSON object")
    return document


def text_field(
    body: Mapping[str, Any], name: str, *, default: str | None = None, max_length: int = MAX_TEXT
) -> str:
    """A non-empty string field (``default`` when absent, if given)."""
    value = body.get(name, default)
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise InvalidBody(f"{name} must be a non-empty string of at most {max_length} characters")
    return value


def optional_text_field(
    body: Mapping[str, Any], name: str, *, max_length: int = MAX_TEXT
) -> str | None:
    """A string field that may be absent or null."""
    if body.get(name) is None:
        return None
    return text_field(body, name, max_length=max_length)


def int_field(
    body: Mapping[str, Any],
    name: str,
    *,
    default: int | None = None,
    minimum: int = 0,
    maximum: int = 10**9,
) -> int:
    """An integer field within [minimum, maximum] (booleans and floats are refused)."""
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise InvalidBody(f"{name} must be an integer between {minimum} and {maximum}")
    return value


def optional_int_field(
    body: Mapping[str, Any], name: str, *, minimum: int = 0, maximum: int = 10**9
) -> int | None:
    if body.get(name) is None:
        return None
    return int_field(body, name, minimum=minimum, maximum=maximum)
