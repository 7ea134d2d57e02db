"""Shared helpers for the plugin's pytester tests."""

from __future__ import annotations

import pytest

# The plugin is registered through its pytest11 entry point, so every inner run loads it.
XDIST_MODES = {
    "no-xdist": ("-p", "no:xdist"),
    "n0": ("-n", "0"),
    "n2": ("-n", "2"),
}


@pytest.fixture(params=list(XDIST_MODES), ids=list(XDIST_MODES))
def xdist_args(request: pytest.FixtureRequest) -> tuple[str, ...]:
    return XDIST_MODES[request.param]


BASE_INI = (
    "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
    "filterwarnings = ignore::pytest.PytestAssertRewriteWarning\n"
)


@pytest.fixture
def pytester(pytester: pytest.Pytester) -> pytest.Pytester:
    """Inner runs get the same quiet asyncio setting as the project (no deprecation warning)."""
    pytester.makeini(BASE_INI)
    return pytester
