"""The suites' thin API: settings, clock, secret, run_async, async_client, a8, sync_client.

Against ``reachable_map`` (a named deployment on loopback whose apps answer /health), so
no reference target is started.
"""

from __future__ import annotations

import pytest


def test_a_missing_secret_fails_the_check_in_one_line_naming_the_variable(
    pytester: pytest.Pytester, reachable_map: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OIDC_CLIENT_SECRET", raising=False)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.second_confirmation
        def test_check(secret):
            key = secret("A8_TELEMETRY_KEY")
            assert repr(key) == "Secret('A8_TELEMETRY_KEY', '**********')"
            assert key.reveal() == "not-a-real-key"
            secret("OIDC_CLIENT_SECRET")
        """
    )
    result = pytester.runpytest("-p", "no:xdist", f"--system-map={reachable_map}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*environment variable OIDC_CLIENT_SECRET is not set"])
    assert "Traceback" not in result.stdout.str()
    assert "not-a-real-key" not in result.stdout.str()


def test_the_async_client_and_a8_serve_every_call_of_one_check(
    pytester: pytest.Pytester, reachable_map: str
) -> None:
    """One event loop per check: a client opened on it works across run_async calls
    (with a fresh ``asyncio.run`` per call the second would find its loop closed)."""
    pytester.makepyfile(
        """
        import pytest
        from secondconf.target.a8 import A8Client

        @pytest.mark.second_confirmation
        def test_check(target, run_async, async_client, a8):
            url = target.system_map.apps["A1"].health_url
            first = run_async(async_client.get(url))
            second = run_async(async_client.get(url))
            assert (first.status_code, second.status_code) == (200, 200)
            assert isinstance(a8, A8Client)
            assert not async_client.is_closed

        def test_closed_after(async_client):
            assert not async_client.is_closed
        """
    )
    result = pytester.runpytest("-p", "no:xdist", f"--system-map={reachable_map}")
    result.assert_outcomes(passed=2)


def test_settings_clock_and_sync_client_come_from_the_session(
    pytester: pytest.Pytester, reachable_map: str
) -> None:
    pytester.makepyfile(
        """
        from datetime import UTC

        def test_check(settings, clock, sync_client, target, run_info):
            assert settings.env.value == "staging"
            assert settings.system_map.name == "system_map.json"
            assert clock.now().tzinfo is UTC
            url = target.system_map.apps["A2"].health_url
            assert sync_client.get(url).json() == {"status": "ok"}
            assert run_info["target"].startswith("deployment named by")
        """
    )
    result = pytester.runpytest("-p", "no:xdist", f"--system-map={reachable_map}")
    result.assert_outcomes(passed=1)
