"""The package layout holds: imports point down, capabilities stay apart, pytest stays in the
wiring, and loading the plugin is light. Each rule is first shown to catch a fixture
package that breaks it, then applied to the real one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.plugin.layout_rules import heavy_modules, layering_violations, modules_loaded_by

PLUGIN_ROOT = Path(__file__).resolve().parents[2] / "plugin"


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for folder in {p.parent for p in root.rglob("*.py")}:
        (folder / "__init__.py").touch()
    return root


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    return _package(
        tmp_path,
        {
            "pkg/engine/verdict.py": "from pkg.target import client\n",
            "pkg/target/client.py": "import json\n",
            "pkg/checks/liveness/measure.py": "from pkg.checks.load.baseline import x\n",
            "pkg/checks/load/baseline.py": "x = 1\nfrom ..liveness import measure\n",
            "pkg/reports/writer.py": "import pytest\n",
            "pkg/pytest_plugin/plugin.py": "import pytest\nfrom pkg.checks.load import baseline\n",
            "pkg/pytest_plugin/heavy.py": "from pkg.checks.load import baseline\n",
        },
    )


def test_the_rules_catch_each_kind_of_violation(broken: Path) -> None:
    found = {(v.module, v.rule) for v in layering_violations(broken, "pkg")}

    assert found == {
        ("pkg.engine.verdict", "engine imports upward"),
        ("pkg.checks.liveness.measure", "one check imports another"),
        ("pkg.checks.load.baseline", "one check imports another"),
        ("pkg.reports.writer", "pytest outside pytest_plugin"),
    }


def test_the_plugin_package_follows_the_layering() -> None:
    assert [str(v) for v in layering_violations(PLUGIN_ROOT, "secondconf")] == []


def test_the_load_check_catches_an_eager_check_import(broken: Path) -> None:
    loaded = modules_loaded_by("pkg.pytest_plugin.heavy", pythonpath=broken)

    assert "pkg.checks.load.baseline" in heavy_modules(loaded, "pkg")


def test_loading_the_plugin_imports_no_check_and_nothing_heavy() -> None:
    loaded = modules_loaded_by("secondconf.pytest_plugin.plugin")

    assert heavy_modules(loaded, "secondconf") == []


def test_a_plain_pytest_run_with_the_plugin_imports_no_check(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import sys

        def test_nothing_heavy_was_imported():
            heavy = [m for m in sys.modules
                     if m.split(".")[0] in ("scipy", "numpy", "httpx")
                     or m.startswith("secondconf.checks.")]
            assert heavy == []
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")

    result.assert_outcomes(passed=1)
