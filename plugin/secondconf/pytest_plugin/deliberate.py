"""A check's deliberate skip: the case it covers does not arise for this target, and
another check of the same run covers the rule (so the gate counts it as superseded, not
as unrun).

Only for variants of one rule, such as the TTL boundary checked through clock control or
by waiting the real TTL: the caller must be sure the other variant runs in this session.
"""

from __future__ import annotations

from typing import NoReturn

import pytest

from secondconf.engine.results import SUPERSEDED_PREFIX
from secondconf.pytest_plugin.state import DELIBERATE_SKIP_KEY


def skip_covered_elsewhere(request: pytest.FixtureRequest, reason: str) -> NoReturn:
    """Skip this check as superseded, with ``reason`` naming the other check."""
    request.node.stash[DELIBERATE_SKIP_KEY] = True
    pytest.skip(SUPERSEDED_PREFIX + reason)


def selected(request: pytest.FixtureRequest, name: str) -> bool:
    """Whether a test function called ``name`` is among this session's selected items."""
    return any(getattr(item, "originalname", item.name) == name for item in request.session.items)
