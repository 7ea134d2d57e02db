"""Which routes the hardening checks cover, and the requests built from their documents."""

from __future__ import annotations

from typing import Any

import pytest
from secondconf.checks.hardening.cases.idempotency import variant_body
from secondconf.checks.hardening.cases.tenants import reads_what_it_creates
from secondconf.target.routes import (
    discover_routes,
    other_body,
    prepared_body,
    resource_id,
)

HEADERS = [{"name": "X-Idempotency-Key", "in": "header", "required": True}]


def op(example: Any = None, schema: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    operation: dict[str, Any] = {"parameters": HEADERS, **extra}
    if example is not None or schema is not None:
        media: dict[str, Any] = {"schema": schema or {"type": "object"}}
        if example is not None:
            media["example"] = example
        operation["requestBody"] = {"required": True, "content": {"application/json": media}}
    return operation


DOC = {
    "paths": {
        "/v1/pages": {
            "post": op(
                {"slug": "algebra-101", "title": "Algebra"},
                {
                    "type": "object",
                    "required": ["slug"],
                    "properties": {
                        "slug": {"type": "string", "pattern": "^[a-z0-9-]+$"},
                        "title": {"type": "string", "maxLength": 10},
                    },
                },
            )
        },
        "/v1/pages/{page_id}": {"get": {}},
        "/v1/pages/{page_id}/publish": {"post": op({})},
        "/v1/impressions": {
            "post": op(
                {"page_id": "pg_1", "arm": "a"},
                {
                    "type": "object",
                    "properties": {"arm": {"type": "string", "enum": ["a", "b"]}},
                },
            )
        },
        "/v1/orphans/{orphan_id}/close": {"post": op({})},
        "/v1/no-example": {"post": op(schema={"type": "object", "required": ["x"]})},
        "/v1/hook": {"post": op({}, **{"x-contract-rules": False})},
        "/oauth/token": {"post": {}},
    }
}


def test_covered_exempt_and_untested_routes_are_told_apart() -> None:
    routes = discover_routes("A1", DOC)
    assert [r.label for r in routes.covered] == [
        "A1 POST /v1/impressions",
        "A1 POST /v1/pages",
        "A1 POST /v1/pages/{page_id}/publish",
    ]
    assert {e.template: e.reason for e in routes.exempt} == {
        "/oauth/token": "an OIDC protocol endpoint (§4 exemption)",
        "/v1/hook": "the document marks it outside the §4 rules (x-contract-rules: false)",
    }
    assert {u.template: u.reason for u in routes.untested} == {
        "/v1/no-example": "no JSON request example",
        "/v1/orphans/{orphan_id}/close": "no POST creates the resource of {orphan_id}",
    }
    publish = routes.covered[2]
    assert (publish.path_params, publish.creator) == (("page_id",), "/v1/pages")
    assert publish.reader == "/v1/pages/{page_id}"
    assert publish.path({"page_id": "pg_9"}) == "/v1/pages/pg_9/publish"
    assert routes.readers == {"page_id": "/v1/pages/{page_id}"}
    assert routes.covered[0].references == ("page_id",)  # the impression names a page
    assert (routes.covered[1].references, publish.references) == ((), ())


def test_a8_ingest_is_exempt_without_a_document_saying_so() -> None:
    doc = {"paths": {"/v1/events": {"post": op([])}}}
    assert [e.reason for e in discover_routes("A8", doc).exempt] == [
        "A8's telemetry ingest (§4 exemption)"
    ]
    assert discover_routes("A3", doc).covered[0].label == "A3 POST /v1/events"


def test_bodies_are_made_unique_where_the_schema_allows_and_references_filled() -> None:
    routes = {r.template: r for r in discover_routes("A7", DOC).covered}
    body = prepared_body(routes["/v1/pages"], "abcd1234", {})
    assert body == {"slug": "algebra-101-abcd1234", "title": "Algebra"}  # maxLength 10 kept
    impression = prepared_body(routes["/v1/impressions"], "abcd1234", {"page_id": "pg_42"})
    assert impression == {"page_id": "pg_42", "arm": "a"}  # enum untouched
    assert routes["/v1/pages"].example == {"slug": "algebra-101", "title": "Algebra"}


def test_a_pattern_that_refuses_the_suffix_keeps_the_example() -> None:
    routes = discover_routes(
        "A7",
        {
            "paths": {
                "/v1/x": {
                    "post": op(
                        {"code": "AB"},
                        {
                            "type": "object",
                            "properties": {"code": {"type": "string", "pattern": "^[A-Z]+$"}},
                        },
                    )
                }
            }
        },
    )
    assert prepared_body(routes.covered[0], "abcd1234", {}) == {"code": "AB"}


@pytest.mark.parametrize(
    ("answer", "param", "expected"),
    [
        ({"page_id": "pg_1", "id": "x"}, "page_id", "pg_1"),
        ({"id": "run_1"}, "run_id", "run_1"),
        ({"id": ""}, "run_id", None),
        (["id"], "run_id", None),
    ],
)
def test_resource_ids_come_from_the_parameter_or_id(
    answer: Any, param: str, expected: str | None
) -> None:
    assert resource_id(answer, param) == expected


@pytest.mark.parametrize(
    ("creator", "reader", "param", "expected"),
    [
        ("/v1/checkout", "/v1/checkouts/{checkout_id}", "checkout_id", True),
        ("/v1/pages", "/v1/pages/{page_id}", "page_id", True),
        ("/v1/work", "/v1/work/{work_id}", "work_id", True),
        ("/v1/providers", "/v1/listings/{listing_id}", "listing_id", False),
    ],
)
def test_a_reader_is_matched_to_what_its_creator_makes(
    creator: str, reader: str, param: str, expected: bool
) -> None:
    assert reads_what_it_creates(creator, reader, param) is expected


def test_a_variant_body_has_another_fingerprint() -> None:
    body = {"slug": "a-abcd1234", "n": 1}
    variant = variant_body(body, "abcd1234", "feed0000")
    assert variant == {"slug": "a-feed0000", "n": 1}
    assert variant_body({}, "abcd1234", "feed0000") == {"qa_variant": "feed0000"}


def test_another_body_is_valid_and_has_another_fingerprint() -> None:
    routes = {r.template: r for r in discover_routes("A7", DOC).covered}
    impression = routes["/v1/impressions"]
    assert other_body(impression, {"page_id": "pg_1", "arm": "a"}, "feed0000") == {
        "page_id": "pg_1",
        "arm": "b",  # another value of the enum first
    }
    pages = routes["/v1/pages"]
    assert other_body(pages, {"slug": "s", "title": "t"}, "feed0000") == {
        "slug": "s-feed0000",
        "title": "t",
    }
    assert other_body(routes["/v1/pages/{page_id}/publish"], {}, "feed0000") == {
        "qa_variant": "feed0000"
    }
