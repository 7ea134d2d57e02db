"""A4, content/AI service: does the paid work; each call has a cost (contract §1).

``POST /v1/work`` performs ``units`` of a work kind from the catalog and records its cost
and the 4x billed amount (the ``markup`` fault bills the cost itself); A5 calls it on
behalf of students. A4 emits no business event of its own: its cost lines travel inside the
callers' events.

Compliance (contract §14): the optional ``prompt`` (what the student typed) is read for
academic integrity (``reftarget.domain.integrity``: graded work to hand in -> 422
``academic-integrity``, nothing recorded, nothing billed) and never stored. A work item
belongs to the student who asked for it: only that subject reads it (FERPA), and no one
of another tenant. Fault switches: ``academic_integrity``, ``ferpa_scope``.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from reftarget.apps.domain_errors import DOMAIN_ERROR_HANDLERS
from reftarget.core.app import AppDefinition, AppRuntime
from reftarget.core.auth import ResourceNotFound, fetch_for_tenant
from reftarget.core.body import int_field, json_object, optional_text_field, text_field
from reftarget.core.context import request_context
from reftarget.core.openapi import Endpoint
from reftarget.core.settings import AppSettings
from reftarget.domain import WorkCatalog
from reftarget.domain.integrity import check_integrity

ROLE = "content"
PROMPT_MAX_CHARS = 2000

SCHEMA = """
CREATE TABLE IF NOT EXISTS a4_work (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    units INTEGER NOT NULL,
    unit_cost_cents INTEGER NOT NULL,
    cost_cents INTEGER NOT NULL,
    markup INTEGER NOT NULL,
    billed_cents INTEGER NOT NULL,
    reference TEXT,
    subject TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS a4_work_tenant ON a4_work (tenant_id, created_at);
"""
_COLUMNS = (
    "id, kind, units, unit_cost_cents, cost_cents, markup, billed_cents, reference, created_at"
)


def _work_json(row: Any) -> dict[str, Any]:
    return {name: row[name] for name in _COLUMNS.split(", ")}


class ContentService:
    """The handlers of A4."""

    def __init__(self, runtime: AppRuntime) -> None:
        self.runtime = runtime
        self.catalog = WorkCatalog()
        runtime.db.executescript(SCHEMA)

    async def create_work(self, request: Request) -> Response:
        context = request_context(request)
        body = await json_object(request)
        kind = text_field(body, "kind")
        units = int_field(body, "units", default=1, minimum=1, maximum=1000)
        reference = optional_text_field(body, "reference")
        prompt = optional_text_field(body, "prompt", max_length=PROMPT_MAX_CHARS)
        if self.runtime.faults.rule_enabled("academic_integrity"):
            check_integrity(prompt)  # before any cost: a refusal records and bills nothing
        result = self.catalog.perform(kind, units)
        if not self.runtime.faults.rule_enabled("markup"):  # the fault: billed at cost
            metrics = result.finance_metrics | {"billed_cents": result.cost_cents}
            result = dataclasses.replace(
                result, billed_cents=result.cost_cents, finance_metrics=metrics
            )
        work_id = f"wrk_{uuid.uuid4().hex}"
        self.runtime.db.execute(
            f"INSERT INTO a4_work (tenant_id, subject, {_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                context.tenant_id,
                context.subject,
                work_id,
                kind,
                units,
                result.unit_cost_cents,
                result.cost_cents,
                result.markup,
                result.billed_cents,
                reference,
                self.runtime.clock.now().isoformat(),
            ),
        )
        row = fetch_for_tenant(
            self.runtime.db, "a4_work", work_id, context.tenant_id, self.runtime.faults
        )
        return JSONResponse(
            {**_work_json(row), "finance_metrics": result.finance_metrics},
            status_code=201,
            headers={"Location": f"/v1/work/{work_id}"},
        )

    async def get_work(self, request: Request) -> Response:
        context = request_context(request)
        row = fetch_for_tenant(
            self.runtime.db,
            "a4_work",
            request.path_params["work_id"],
            context.tenant_id,
            self.runtime.faults,
            resource="work item",
        )
        if self._student_scoped() and row["subject"] != context.subject:
            raise ResourceNotFound("work item", request.path_params["work_id"])
        return JSONResponse(_work_json(row))

    def _student_scoped(self) -> bool:
        """Whether reads are limited to the student whose work it is (FERPA, §14)."""
        return self.runtime.faults.rule_enabled("ferpa_scope")

    async def list_work(self, request: Request) -> Response:
        context = request_context(request)
        reference = request.query_params.get("reference")
        sql = f"SELECT {_COLUMNS} FROM a4_work WHERE tenant_id = ?"
        params: list[Any] = [context.tenant_id]
        if self._student_scoped():
            sql += " AND subject = ?"
            params.append(context.subject)
        if reference is not None:
            sql += " AND reference = ?"
            params.append(reference)
        rows = self.runtime.db.execute(sql + " ORDER BY created_at DESC LIMIT 100", params)
        return JSONResponse({"items": [_work_json(row) for row in rows]})

    async def catalog_view(self, request: Request) -> Response:
        kinds = self.catalog.kinds()
        return JSONResponse(
            {
                "kinds": {
                    kind: {
                        "unit_cost_cents": cost,
                        "micro_price_cents": self.catalog.micro_price_cents(kind),
                    }
                    for kind, cost in sorted(kinds.items())
                },
                "markup": self.catalog.markup,
            }
        )


def build(settings: AppSettings, runtime: AppRuntime) -> AppDefinition:
    service = ContentService(runtime)
    return AppDefinition(
        role=ROLE,
        endpoints=[
            Endpoint(
                "POST",
                "/v1/work",
                service.create_work,
                "Perform paid work (cost = unit cost x units; billed = cost x 4)",
                success_status=201,
                request_example={"kind": "explain", "units": 2, "reference": "order-123"},
                request_schema={
                    "type": "object",
                    "required": ["kind"],
                    "properties": {
                        "kind": {"type": "string", "enum": sorted(service.catalog.kinds())},
                        "units": {"type": "integer", "minimum": 1, "maximum": 1000},
                        "reference": {"type": "string", "maxLength": 200},
                        "prompt": {"type": "string", "maxLength": PROMPT_MAX_CHARS},
                    },
                },
            ),
            Endpoint(
                "GET",
                "/v1/work",
                service.list_work,
                "The student's recent work items",
                student_records=True,
            ),
            Endpoint(
                "GET",
                "/v1/work/{work_id}",
                service.get_work,
                "One work item of the student",
                student_records=True,
            ),
            Endpoint("GET", "/v1/catalog", service.catalog_view, "Work kinds and their unit cost"),
        ],
        exception_handlers=DOMAIN_ERROR_HANDLERS,
    )
