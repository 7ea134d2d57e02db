"""A5, student app: activation, credits, and spending credits on A4 work (contract §1).

A spend calls A4 service-to-service on the student's behalf (same bearer token, same trace
id, an idempotency key derived from the request's) through retries with jittered
exponential backoff and a circuit breaker (§8, ``core.dependency``): each retry emits
``retry_attempted`` and each breaker transition a ``circuit_*`` event. One credit is one
cent of billed work (cost x 4). The balance is checked before A4 is called, so a short
balance costs A4 nothing.

Compliance (contract §14): a spend may carry the student's ``prompt``, which goes to A4
only; A4's ``academic-integrity`` refusal (422) is passed on as it is, with no credit spent
and no ``credit_decrement``. Telemetry never holds the prompt or the user agent (the
``pii_minimization`` fault puts both into ``credit_decrement``'s ``data``).
"""

from __future__ import annotations

from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from reftarget.apps.domain_errors import DOMAIN_ERROR_HANDLERS
from reftarget.apps.student_signin import (
    CALLBACK_PATH,
    START_PATH,
    StudentRecords,
    StudentSignIn,
)
from reftarget.core.app import AppDefinition, AppRuntime
from reftarget.core.body import int_field, json_object, optional_text_field, text_field
from reftarget.core.context import RequestContext, request_context
from reftarget.core.db import app_db_path
from reftarget.core.dependency import GuardedDependency, RetryPolicy
from reftarget.core.openapi import Endpoint
from reftarget.core.problem import PROBLEM_MEDIA_TYPE, problem_response
from reftarget.core.runtime import build_authenticator
from reftarget.core.service_client import downstream_headers
from reftarget.core.settings import AppSettings
from reftarget.core.synthetic_identities import synthetic_identity_endpoints
from reftarget.domain import (
    CircuitOpen,
    CreditLedger,
    Database,
    NotFound,
    WorkCatalog,
)
from reftarget.domain.records import Emitted

ROLE = "student"
WELCOME_CREDITS = 500
WORK_ROUTE = "/v1/work"
A4_TIMEOUT_S = 3.0
PROMPT_MAX_CHARS = 2000  # as A4's
# 6 attempts, full jitter from 10 ms doubling to a 50 ms cap: retries 1-3 wait up to
# 10/20/40 ms, retries 4-5 up to the cap (saturated); 5 failed calls open the breaker 5 s.
A4_POLICY = RetryPolicy(
    attempts=6, base_s=0.01, cap_s=0.05, breaker_failures=5, breaker_reset_s=5.0
)


def _is_integrity_refusal(answer: httpx.Response) -> bool:
    """Whether A4's answer is its academic-integrity problem (contract §14)."""
    try:
        body = answer.json()
    except ValueError:
        return False
    kind = body.get("type") if isinstance(body, dict) else None
    return isinstance(kind, str) and kind.endswith("academic-integrity")


class DependencyFailed(Exception):
    """A4 answered 5xx or not at all (retried; counted by the breaker)."""


class StudentService:
    """The handlers of A5."""

    def __init__(self, settings: AppSettings, runtime: AppRuntime) -> None:
        self.runtime = runtime
        self.ledger = CreditLedger(Database(app_db_path(settings.state_dir, "A5")), runtime.clock)
        self.catalog = WorkCatalog()
        self.a4_url = settings.topology.base_urls["A4"] + WORK_ROUTE
        self.a4 = GuardedDependency(
            runtime,
            "A4",
            WORK_ROUTE,
            A4_POLICY,
            counted=(DependencyFailed, httpx.HTTPError),
            retry_on=(DependencyFailed, httpx.TransportError),
        )

    def _emit(
        self,
        context: RequestContext,
        emitted: tuple[Emitted, ...],
        status: int,
        data: dict[str, Any] | None = None,
    ) -> None:
        for event in emitted:
            self.runtime.events.business(
                context,
                event.event_name,
                status=status,
                finance_metrics=event.fields.get("finance_metrics"),
                data=data,
            )

    def _leaked_pii(self, request: Request, prompt: str | None) -> dict[str, Any] | None:
        """Nothing, unless the ``pii_minimization`` fault is on: then what the student
        typed and their raw user agent and address go to telemetry (the leak §14 forbids)."""
        if self.runtime.faults.rule_enabled("pii_minimization"):
            return None
        return {
            "prompt": prompt,
            "user_agent": request.headers.get("user-agent"),
            "client_ip": request.headers.get("x-forwarded-for"),
        }

    def _account_json(self, tenant_id: str, user_id: str) -> dict[str, Any]:
        account = self.ledger.account(tenant_id, user_id)
        return {
            "tenant_id": account.tenant_id,
            "user_id": account.user_id,
            "balance": account.balance,
            "activated_at": None
            if account.activated_at is None
            else account.activated_at.isoformat(),
        }

    async def activate(self, request: Request) -> Response:
        context = request_context(request)
        await json_object(request)
        tenant_id, user_id = context.principal()
        activation = self.ledger.activate(tenant_id, user_id)
        if activation.first_use:
            self.ledger.grant(tenant_id, user_id, WELCOME_CREDITS)
        status = 201 if activation.first_use else 200
        emitted = activation.emitted
        if not emitted and not self.runtime.faults.rule_enabled("activation_once"):
            at = activation.account.activated_at or self.runtime.clock.now()
            emitted = (Emitted("activation_first_use", {}, at),)  # fault: fires again
        self._emit(context, emitted, status)
        body = self._account_json(tenant_id, user_id) | {"first_use": activation.first_use}
        return JSONResponse(body, status_code=status)

    async def grant(self, request: Request) -> Response:
        context = request_context(request)
        credits = int_field(await json_object(request), "credits", minimum=1, maximum=100_000)
        tenant_id, user_id = context.principal()
        self.ledger.grant(tenant_id, user_id, credits)
        return JSONResponse(self._account_json(tenant_id, user_id), status_code=201)

    async def balance(self, request: Request) -> Response:
        tenant_id, user_id = request_context(request).principal()
        return JSONResponse(self._account_json(tenant_id, user_id))

    async def _call_a4(
        self, request: Request, context: RequestContext, body: dict[str, Any]
    ) -> Any:
        headers = downstream_headers(request, context, "a4-work")

        async def attempt() -> httpx.Response:
            answer = await self.runtime.http.post(
                self.a4_url, json=body, headers=headers, timeout=A4_TIMEOUT_S
            )
            if answer.status_code >= 500 or answer.status_code == 409:
                raise DependencyFailed(f"A4 answered {answer.status_code}")
            return answer

        return await self.a4.call(context, attempt)

    async def spend(self, request: Request) -> Response:
        context = request_context(request)
        body = await json_object(request)
        kind = text_field(body, "kind")
        units = int_field(body, "units", default=1, minimum=1, maximum=1000)
        prompt = optional_text_field(body, "prompt", max_length=PROMPT_MAX_CHARS)
        tenant_id, user_id = context.principal()
        expected = self.catalog.perform(kind, units)
        try:
            account = self.ledger.account(tenant_id, user_id)
        except NotFound:
            return problem_response(409, "not-activated", "Activate first: POST /v1/activations.")
        if account.balance < expected.billed_cents:
            return problem_response(
                402,
                "insufficient-credits",
                f"This work costs {expected.billed_cents} credits; the balance is "
                f"{account.balance}.",
                balance=account.balance,
                requested=expected.billed_cents,
            )
        try:
            work_body: dict[str, Any] = {"kind": kind, "units": units}
            if prompt is not None:
                work_body["prompt"] = prompt
            answer = await self._call_a4(request, context, work_body)
        except CircuitOpen as exc:
            return problem_response(
                503,
                "dependency-circuit-open",
                f"A4 is failing; calls are paused for {exc.retry_after_s:.1f} s.",
                headers={"Retry-After": str(max(1, round(exc.retry_after_s)))},
            )
        except (DependencyFailed, httpx.HTTPError) as exc:
            return problem_response(502, "dependency-failed", f"A4 did not do the work: {exc}")
        if answer.status_code == 422 and _is_integrity_refusal(answer):
            return Response(  # A4's refusal as it is: nothing was done, nothing is spent
                answer.content, status_code=422, media_type=PROBLEM_MEDIA_TYPE
            )
        if answer.status_code != 201:
            return problem_response(
                502, "dependency-refused", f"A4 refused the work ({answer.status_code})."
            )
        work = answer.json()
        # Fault credit_billed off: the balance loses the work's cost, not what it was billed.
        billed_rule = self.runtime.faults.rule_enabled("credit_billed")
        credits = work["billed_cents"] if billed_rule else work["cost_cents"]
        spend = self.ledger.spend(tenant_id, user_id, credits, work["cost_cents"])
        self._emit(context, spend.emitted, 201, self._leaked_pii(request, prompt))
        return JSONResponse(
            {
                "work_id": work["id"],
                "credits": spend.credits,
                "balance": spend.account.balance,
                "finance_metrics": spend.finance_metrics,
            },
            status_code=201,
        )


def build(settings: AppSettings, runtime: AppRuntime) -> AppDefinition:
    service = StudentService(settings, runtime)
    db = Database(app_db_path(settings.state_dir, "A5"))
    sign_in = StudentSignIn(
        runtime,
        db,
        service.ledger,
        base_urls=dict(settings.topology.base_urls),
        authenticator=build_authenticator(settings, runtime),
        welcome_credits=WELCOME_CREDITS,
    )

    work_schema = {
        "type": "object",
        "required": ["kind"],
        "properties": {
            "kind": {"type": "string", "enum": sorted(service.catalog.kinds())},
            "units": {"type": "integer", "minimum": 1, "maximum": 1000},
            "prompt": {"type": "string", "maxLength": PROMPT_MAX_CHARS},
        },
    }
    return AppDefinition(
        role=ROLE,
        endpoints=[
            Endpoint(
                "POST",
                "/v1/activations",
                service.activate,
                "Activate the student (first use: welcome credits, activation_first_use)",
                success_status=201,
                request_example={},
                request_schema={"type": "object"},
                emits=("activation_first_use",),
            ),
            Endpoint(
                "POST",
                "/v1/credits/grants",
                service.grant,
                "Add credits to the student's account",
                success_status=201,
                request_example={"credits": 200},
                request_schema={
                    "type": "object",
                    "required": ["credits"],
                    "properties": {"credits": {"type": "integer", "minimum": 1}},
                },
            ),
            Endpoint(
                "POST",
                "/v1/credits/spend",
                service.spend,
                "Spend credits on A4 work (calls A4 with retries and a circuit breaker)",
                success_status=201,
                request_example={"kind": "explain", "units": 1},
                request_schema=work_schema,
                emits=("credit_decrement",),
            ),
            Endpoint(
                "GET",
                "/v1/credits",
                service.balance,
                "The student's credit balance",
                student_records=True,
            ),
            Endpoint(
                "GET",
                START_PATH,
                sign_in.start,
                "The landing page CTA: start sign-up (code + PKCE, verifier kept here)",
                success_status=302,
                public=True,
            ),
            Endpoint(
                "GET",
                CALLBACK_PATH,
                sign_in.callback,
                "Redeem the code, activate, attribute the conversion, go to A2's checkout",
                success_status=303,
                public=True,
                emits=("activation_first_use",),
                funnel_step="b2c.activation",
            ),
            *synthetic_identity_endpoints(StudentRecords(db)),
        ],
        exception_handlers=DOMAIN_ERROR_HANDLERS,
    )
