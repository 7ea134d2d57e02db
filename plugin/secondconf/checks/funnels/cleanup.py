"""Deleting the synthetic identities a run created, and proving it (contract §5, harness
extension): A1 ``DELETE /v1/synthetic-identities/{subject}`` as the QA client (204, also
when nothing existed), then ``GET`` the same path: 404 once nothing of it remains anywhere,
200 with ``owned`` ({app: count}) while something does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Final

import httpx

from secondconf.checks.funnels.model import Cleanup
from secondconf.contract.traceids import new_idempotency_key, new_trace_id
from secondconf.core.secret import Secret
from secondconf.target.identity import TokenError, fetch_token
from secondconf.target.map import SystemMap

IDENTITIES_PATH: Final = "/v1/synthetic-identities/"
PROOF_ATTEMPTS: Final = 20  # A1 asks every app to delete; the proof may need a moment
PROOF_INTERVAL_S: Final = 0.25
DELETE_CONCURRENCY: Final = 4  # A1 fans each deletion out to every app
DELETE_ATTEMPTS: Final = 3
DELETE_TIMEOUT_S: Final = 15.0


async def delete_identities(
    client: httpx.AsyncClient,
    system_map: SystemMap,
    client_secret: Secret,
    subjects: Iterable[str],
) -> list[Cleanup]:
    """Delete each subject and prove it is gone; never raises (a failure is in the result)."""
    subjects = list(dict.fromkeys(subjects))
    try:
        token = await fetch_token(client, system_map, client_secret, None)
    except TokenError as error:
        return [Cleanup(s, None, None, problem=str(error)) for s in subjects]
    gate = asyncio.Semaphore(DELETE_CONCURRENCY)

    async def one(subject: str) -> Cleanup:
        async with gate:
            return await _delete(client, system_map, token.authorization, subject)

    return list(await asyncio.gather(*(one(s) for s in subjects)))


async def _delete(
    client: httpx.AsyncClient, system_map: SystemMap, auth: dict[str, str], subject: str
) -> Cleanup:
    url = system_map.identity_base_url + IDENTITIES_PATH + subject
    # One key for every attempt: a retry after a timeout is a replay, not a second deletion.
    headers = {**auth, "X-Idempotency-Key": new_idempotency_key(), "X-Trace-Id": new_trace_id()}
    for attempt in range(1, DELETE_ATTEMPTS + 1):
        try:
            deleted = await client.delete(url, headers=headers, timeout=DELETE_TIMEOUT_S)
            break
        except httpx.HTTPError as error:
            if attempt == DELETE_ATTEMPTS:
                problem = f"A1 unreachable ({type(error).__name__}, {attempt} attempts)"
                return Cleanup(subject, None, None, problem=problem)
    proof_status: int | None = None
    remaining: dict[str, int] = {}
    for _ in range(PROOF_ATTEMPTS):
        try:
            proof = await client.get(url, headers=auth)
        except httpx.HTTPError:
            proof_status = None
        else:
            proof_status = proof.status_code
            remaining = _owned(proof) if proof_status == 200 else {}
        if proof_status == 404 or deleted.status_code != 204:
            break
        await asyncio.sleep(PROOF_INTERVAL_S)
    return Cleanup(subject, deleted.status_code, proof_status, remaining)


def _owned(answer: httpx.Response) -> dict[str, int]:
    try:
        body: Any = answer.json()
    except ValueError:
        return {}
    owned = body.get("owned") if isinstance(body, dict) else None
    if not isinstance(owned, dict):
        return {}
    return {str(k): v for k, v in owned.items() if isinstance(v, int)}
