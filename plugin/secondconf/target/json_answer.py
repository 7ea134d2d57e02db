"""A JSON object answer, or one line saying why there is none.

The harness's API clients (A8, Stripe, A7) all read a JSON object and fail in the same
four ways: the service is unreachable, answers another status, answers something that is
not JSON, or JSON that is not an object. Each client raises its own error class with
``where`` (what was asked) in front; the message never holds a header, so never a key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx


def json_body(response: httpx.Response | None) -> Any:
    """The answer's JSON, or ``None`` (no answer, or not JSON): for a check that judges
    whatever came back."""
    if response is None:
        return None
    try:
        return response.json()
    except ValueError:
        return None


async def get_json_object(
    client: httpx.AsyncClient,
    url: str,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    where: str,
    error: type[Exception],
) -> dict[str, Any]:
    """``GET url``: its answer when it is 200 and a JSON object, else ``error``."""
    try:
        response = await client.get(url, params=params, headers=headers)
    except httpx.HTTPError as failure:
        raise error(f"{where}: unreachable ({type(failure).__name__})") from None
    if response.status_code != 200:
        raise error(f"{where}: HTTP {response.status_code}")
    return json_object(response, where, error)


def json_object(response: httpx.Response, where: str, error: type[Exception]) -> dict[str, Any]:
    """The answer's body as a JSON object, else ``error``."""
    try:
        body = response.json()
    except ValueError:
        raise error(f"{where}: the answer is not JSON") from None
    if not isinstance(body, dict):
        raise error(f"{where}: the answer is not a JSON object")
    return body
