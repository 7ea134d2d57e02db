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
        ("rules", "*invalid mark.rules(); rules(*rule_ids): the catalogued rule ids*"),
        ("rules(7)", "*invalid mark.rules(7); rules(*rule_ids)*"),
        ('rules("IDEM-99")', "*invalid mark.rules('IDEM-99'): not a catalogued rule id*"),
        ('rules("IDEM-07")', "*rules('IDEM-07'): the catalogue runs it under mark.idempotency"),
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


@pytest.mark.parametrize(
    ("decorators", "message"),
    [
        (
            ["idempotency", "prod_safe", 'rules("IDEM-07")'],
            "*mark.rules('IDEM-07'): the catalogue says it is not prod_safe, "
            "the test is marked prod_safe",
        ),
        (
            ["idempotency", 'rules("OIDC-35")'],
            "*mark.rules('OIDC-35'): the catalogue says it is prod_safe, "
            "the test is not marked prod_safe",
        ),
        (
            ["idempotency", 'rules("OIDC-37")'],
            "*mark.rules('OIDC-37'): the catalogue puts it behind HITL gate 'secret_rotation', "
            "the test behind None",
        ),
    ],
)
def test_a_declared_rule_runs_as_the_catalogue_says(
    pytester: pytest.Pytester, decorators: list[str], message: str
) -> None:
    marks = "".join(f"@pytest.mark.{d}\n" for d in decorators)
    pytester.makepyfile(f"import pytest\n\n{marks}def test_check():\n    pass\n")
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

        @pytest.mark.idempotency
        @pytest.mark.hitl(gate="secret_rotation")
        @pytest.mark.rules("OIDC-37")
        def test_rule(record_verdict):
            from secondconf.contract.catalog import rule_by_id
            from secondconf.engine.rules import rule_verdict

            record_verdict(rule_verdict(rule_by_id("OIDC-37"), "A2", cases=1, violations=[]))
        """
    )
    result = pytester.runpytest("-p", "no:xdist", "--strict-markers")
    result.assert_outcomes(passed=1, skipped=1)


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
        "rules(*rule_ids)",
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
