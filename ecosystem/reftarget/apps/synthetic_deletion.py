"""A1's deletion of a synthetic identity with everything it owns (contract §5, extension).

``DELETE /v1/synthetic-identities/{subject}`` (the qa client's ``client_credentials``
token, §4 headers) asks every app that keeps per-user records to delete the subject's
(``reftarget.core.synthetic_identities``, with a token A1 issues for that subject), then
deletes A1's own account, consent record, sessions and codes: 204, also when nothing
existed. An app that does not serve the route owns nothing (its 404 counts as 0); any other
failure is 502 and A1 keeps the account, so the harness can simply retry.
``GET`` answers 200 ``{"subject", "owned": {app_id: count}}`` while anything remains and
404 when nothing does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from reftarget.core.app import AppRuntime
from reftarget.core.context import RequestContext, request_context
from reftarget.core.openapi import Endpoint
from reftarget.core.problem import problem_response
from reftarget.core.service_client import derived_idempotency_key
from reftarget.core.synthetic_identities import SYNTHETIC_IDENTITY_ROUTE, namespace_refusal
from reftarget.identity import QA_CLIENT_ID, SYNTHETIC_IDENTITIES, IdentityProvider
from reftarget.identity.accounts import synthetic_tenant

OWNING_APPS = ("A2", "A3", "A4", "A5", "A6", "A7")  # A8 holds telemetry, which no one owns
CALL_TIMEOUT_S = 5.0


class AppFailed(Exception):
    """An app answered the fan-out with something other than 200 or 'no such route'."""


class IdentityDeletion:
    """A1's two endpoints over the identity provider and the owning apps."""

    def __init__(
        self, provider: IdentityProvider, runtime: AppRuntime, base_urls: Mapping[str, str]
    ) -> None:
        self._provider = provider
        self._runtime = runtime
        self._base_urls = base_urls

    def endpoints(self) -> list[Endpoint]:
        return [
            Endpoint(
                "GET",
                SYNTHETIC_IDENTITY_ROUTE,
                self.show,
                "What every app still holds for a synthetic identity (404: nothing)",
                published=False,
            ),
            Endpoint(
                "DELETE",
                SYNTHETIC_IDENTITY_ROUTE,
                self.delete,
                "Delete a synthetic identity and everything it owns in every app",
                success_status=204,
                published=False,  # as every app's (core.synthetic_identities says why)
            ),
        ]

    def _refusal(self, request: Request) -> Response | None:
        refused = namespace_refusal(str(request.path_params["subject"]))
        if refused is not None:
            return refused
        if request_context(request).subject != QA_CLIENT_ID:
            return problem_response(
                403, "qa-client-only", f"Only the {QA_CLIENT_ID} client deletes identities."
            )
        return None

    async def _each_app(self, context: RequestContext, subject: str, method: str) -> dict[str, int]:
        tenant = SYNTHETIC_IDENTITIES.get(subject) or synthetic_tenant(subject)
        assert tenant is not None  # the namespace was checked first
        token = self._provider.issue_token(subject, tenant, "reftarget")
        headers = {
            "Authorization": f"Bearer {token}",
            "X-Trace-Id": context.trace_id,
            "X-Test-Run": "true" if context.tags.test_run else "false",
        }
        if context.tags.source is not None:
            headers["X-Source"] = context.tags.source

        async def one(app_id: str) -> int:
            url = self._base_urls[app_id] + f"/v1/synthetic-identities/{subject}"
            extra = {}
            if method == "DELETE":
                key = derived_idempotency_key(context, f"delete-{app_id.lower()}")
                extra["X-Idempotency-Key"] = key
            try:
                answer = await self._runtime.http.request(
                    method, url, headers=headers | extra, timeout=CALL_TIMEOUT_S
                )
            except httpx.HTTPError as exc:
                raise AppFailed(f"{app_id}: no answer ({type(exc).__name__})") from exc
            if answer.status_code == 404:
                return 0  # the app keeps nothing per user
            if answer.status_code != 200:
                raise AppFailed(f"{app_id} answered {answer.status_code}")
            body = answer.json()
            return int(body["deleted" if method == "DELETE" else "owned"])

        counts = await asyncio.gather(*(one(app_id) for app_id in OWNING_APPS))
        return dict(zip(OWNING_APPS, counts, strict=True))

    async def show(self, request: Request) -> Response:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        subject = str(request.path_params["subject"])
        try:
            counts = await self._each_app(request_context(request), subject, "GET")
        except AppFailed as exc:
            return problem_response(502, "dependency-failed", str(exc))
        counts["A1"] = self._provider.owned(subject)
        owned = {app_id: n for app_id, n in sorted(counts.items()) if n}
        if not owned:
            return problem_response(404, "not-found", f"Nothing is held for {subject}.")
        return JSONResponse({"subject": subject, "owned": owned})

    async def delete(self, request: Request) -> Response:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        subject = str(request.path_params["subject"])
        try:
            await self._each_app(request_context(request), subject, "DELETE")
        except AppFailed as exc:
            return problem_response(
                502, "dependency-failed", f"{exc}; the identity is kept, retry the deletion."
            )
        self._provider.delete_identity(subject)
        return Response(status_code=204)
