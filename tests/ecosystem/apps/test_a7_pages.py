"""A7's pages are their tenant's: read and published by it, a 404 to anyone else."""

from __future__ import annotations

import uuid

from tests.ecosystem.apps.target import PROVIDER, Target


def test_a_page_is_read_and_published_by_its_tenant_only(target: Target) -> None:
    slug = f"page-{uuid.uuid4().hex[:12]}"
    page = target.post(
        "A7", "/v1/pages", {"slug": slug, "title": "Algebra"}, target.mutation_headers()
    ).json()
    path = f"/v1/pages/{page['id']}"

    foreign_read = target.get("A7", path, target.auth(PROVIDER))
    foreign_publish = target.post("A7", f"{path}/publish", {}, target.mutation_headers(PROVIDER))
    published = target.post("A7", f"{path}/publish", {}, target.mutation_headers())
    again = target.post("A7", f"{path}/publish", {}, target.mutation_headers())

    assert (foreign_read.status_code, foreign_publish.status_code) == (404, 404)
    assert "page" in foreign_read.json()["detail"]
    assert (published.json()["status"], published.json()["changed"]) == ("published", True)
    assert again.json()["changed"] is False
    assert target.get("A7", path, target.auth()).json()["status"] == "published"
