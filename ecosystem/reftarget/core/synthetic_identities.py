"""Each app's own deletion of what a synthetic identity owns (contract §5, harness extension).

``GET`` and ``DELETE /v1/synthetic-identities/{subject}`` on every app that keeps records
per user. A1 calls them when the harness deletes an identity, with a token A1 issued *for
that subject* (``sub`` = the subject, ``tid`` = its tenant), so an app deletes only what its
caller owns: a subject outside the synthetic namespace, or a token of another subject, is
403. ``GET`` answers ``{"subject", "owned": n}``; ``DELETE`` answers ``{"subject",
"deleted": n}`` (0 when there was nothing), so A1 can both prove and perform the cleanup.

The routes keep the §4 rules but are left out of the OpenAPI documents: they are a fixed
interface of the harness's cleanup (docs/contract.md §5), not the app's product API, and a
generic route walker cannot build a request for them (the subject must be an existing
synthetic identity, the token one A1 issued for it).
"""

from __future__ import annotations

from typing import Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from reftarget.core.context import request_context
from reftarget.core.openapi import Endpoint
from reftarget.core.problem import problem_response
from reftarget.identity.accounts import synthetic_tenant

SYNTHETIC_IDENTITY_ROUTE = "/v1/synthetic-identities/{subject}"


class OwnedRecords(Protocol):
    """What one app keeps per user: counted and deleted by (tenant, subject)."""

    def count(self, tenant_id: str, subject: str) -> int: ...

    def delete(self, tenant_id: str, subject: str) -> int: ...


def namespace_refusal(subject: str) -> Response | None:
    """403 problem+json for a subject outside the synthetic namespace, else None."""
    if synthetic_tenant(subject) is not None:
        return None
    return problem_response(
        403,
        "synthetic-namespace",
        "Only test_student_e2e_NN and test_provider_e2e_NN (NN 01-99) can be deleted here.",
    )


def synthetic_identity_endpoints(owned: OwnedRecords) -> list[Endpoint]:
    """The two endpoints over an app's ``owned`` records."""

    def caller(request: Request) -> tuple[str, str] | Response:
        subject = str(request.path_params["subject"])
        refused = namespace_refusal(subject)
        if refused is not None:
            return refused
        tenant_id, caller_subject = request_context(request).principal()
        if caller_subject != subject:
            return problem_response(
                403, "not-the-subject", "The token must be one A1 issued for this subject."
            )
        return tenant_id, subject

    async def show(request: Request) -> Response:
        who = caller(request)
        if isinstance(who, Response):
            return who
        return JSONResponse({"subject": who[1], "owned": owned.count(*who)})

    async def delete(request: Request) -> Response:
        who = caller(request)
        if isinstance(who, Response):
            return who
        return JSONResponse({"subject": who[1], "deleted": owned.delete(*who)})

    return [
        Endpoint(
            "GET",
            SYNTHETIC_IDENTITY_ROUTE,
            show,
            "How many records this app holds for a synthetic identity (its own token)",
            published=False,
        ),
        Endpoint(
            "DELETE",
            SYNTHETIC_IDENTITY_ROUTE,
            delete,
            "Delete everything this app holds for a synthetic identity (its own token)",
            published=False,
        ),
    ]
