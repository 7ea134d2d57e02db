"""Fixtures of the core tests: the items app (see ``items_app.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest_asyncio

from tests.ecosystem.core.items_app import ItemsApp, build_items_app


@pytest_asyncio.fixture
async def items_app(tmp_path: Path) -> AsyncIterator[ItemsApp]:
    app, runtime, sink, effects, control = build_items_app(tmp_path)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        yield ItemsApp(client, runtime, sink, effects, control)
    runtime.db.close()
