"""Markers: all registered (strict), arguments validated with the accepted signature."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("decorator", "message"),
    [
        ("hitl", "*invalid mark.hitl(); hitl(gate=...): accepts only the keyword argument 'gate'*"),
        ('hitl("inject_503")', "*invalid mark.hitl('inject_503'); hitl(gate=...)*"),
        ('hitl(gate="yolo")', "*invalid mark.hitl(gate='yolo'); hitl(gate=...)*load_over_60_vus*"),
        ('hitl(gate="inject_503", why="x")', "*invalid mark.hitl(gate='inject_503', why='x')*"),
        ('phase("one")', "*invalid mark.phase('one'); phase(n): n is the phase number*"),
        ("phase(-1)", "*invalid mark.phase(-1)*"),
        ("phase", "*invalid mark.phase(); phase(n)*"),
        ('app("A9")', "*invalid mark.app('A9'); app(app_id): one of A1..A8*"),
        ("app(1)", "*invalid mark.app(1)*"),
        ("liveness(1)", "*mark.liveness takes no arguments*"),
    ],
)
def test_marker_with_wrong_arguments_is_a_test_error(
    pytester: pytest.Pytester, decorator: str, message: str
) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.second_confirmation
        @pytest.mark.{decorator}
        def test_check():
            pass
        """
    )
    result = pytester.runpytest("-p", "no:xdist", "-rE")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])


def test_valid_markers_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.second_confirmation
        @pytest.mark.liveness
        @pytest.mark.phase(1)
        @pytest.mark.app("A3")
        @pytest.mark.prod_safe
        def test_check():
            pass
        """
    )
    result = pytester.runpytest("-p", "no:xdist", "--strict-markers")
    result.assert_outcomes(passed=1)


def test_every_marker_of_the_design_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    expected = [
        "second_confirmation",
        "liveness",
        "funnel_b2c",
        "funnel_b2b",
        "idempotency",
        "monetization",
        "activation",
        "learning",
        "autonomy",
        "resiliency",
        "load",
        "prod_safe",
        "phase(n)",
        "app(app_id)",
        "hitl(gate=...)",
    ]
    result.stdout.fnmatch_lines([f"@pytest.mark.{name}:*" for name in expected], consecutive=False)


def test_misspelt_marker_is_an_error_under_strict_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.second_confirmaton
        def test_check():
            pass
        """
    )
    result = pytester.runpytest("-p", "no:xdist", "--strict-markers")
    result.stdout.fnmatch_lines(["*'second_confirmaton' not found in `markers` configuration*"])
    assert result.ret == pytest.ExitCode.INTERRUPTED
