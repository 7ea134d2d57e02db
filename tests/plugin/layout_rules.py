"""The plugin's layering rules, as functions the layout tests run on the real package and on
small fixture packages that break each rule once.

Layers, lowest first; a module may import its own subpackage and anything below it:

    core → contract → engine → settings → hitl → target → checks → reports → cli | pytest_plugin

Inside ``checks`` each child (``checks/liveness/``, ``checks/inventory.py``, …) is one
capability, and no capability imports another. ``pytest`` is imported only under
``pytest_plugin``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

LAYERS: Final = (
    ("core",),
    ("contract",),
    ("engine",),
    ("settings",),
    ("hitl",),
    ("target",),
    ("checks",),
    ("reports",),
    ("cli", "pytest_plugin"),
)
_RANK: Final = {name: rank for rank, names in enumerate(LAYERS) for name in names}
WIRING: Final = "pytest_plugin"
PYTEST_MODULES: Final = ("pytest", "_pytest")


@dataclass(frozen=True)
class Violation:
    module: str
    line: int
    imported: str
    rule: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.imported} ({self.rule})"


def _modules(root: Path, package: str) -> Iterator[tuple[str, Path]]:
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _imports(path: Path, module: str) -> Iterator[tuple[int, str]]:
    """Every module ``path`` imports, at any depth (function bodies and TYPE_CHECKING too)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield node.lineno, base
            for alias in node.names:  # ``from pkg import module`` names a module too
                yield node.lineno, f"{base}.{alias.name}"


def _place(module: str, package: str) -> tuple[str, str] | None:
    """(layer name, capability) of a module of ``package``; capability only under checks."""
    parts = module.split(".")
    if parts[0] != package or len(parts) < 2 or parts[1] not in _RANK:
        return None
    capability = parts[2] if parts[1] == "checks" and len(parts) > 2 else ""
    return parts[1], capability


def layering_violations(root: Path, package: str) -> list[Violation]:
    """Upward imports, check packages importing each other, and pytest outside the wiring."""
    found: list[Violation] = []
    for module, path in _modules(root, package):
        here = _place(module, package)
        for line, imported in _imports(path, module):
            if imported.split(".")[0] in PYTEST_MODULES and (here is None or here[0] != WIRING):
                found.append(Violation(module, line, imported, "pytest outside pytest_plugin"))
                continue
            there = _place(imported, package)
            if here is None or there is None:
                continue
            (layer, capability), (other_layer, other_capability) = here, there
            if layer == other_layer:
                if capability and other_capability and capability != other_capability:
                    found.append(Violation(module, line, imported, "one check imports another"))
                continue
            if _RANK[other_layer] >= _RANK[layer]:
                found.append(Violation(module, line, imported, f"{layer} imports upward"))
    return sorted(set(found), key=lambda v: (v.module, v.line, v.imported))


def modules_loaded_by(module: str, *, pythonpath: Path | None = None) -> list[str]:
    """Every module a fresh interpreter holds after importing ``module`` alone."""
    code = f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"
    env_path = [str(pythonpath)] if pythonpath is not None else []
    completed = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path[:0] = {env_path!r}; {code}"],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded: list[str] = json.loads(completed.stdout)
    return loaded


def heavy_modules(loaded: list[str], package: str) -> list[str]:
    """What a plugin load must not import: any check, scipy, numpy or httpx."""
    heavy_roots = ("scipy", "numpy", "httpx")
    return [
        name
        for name in loaded
        if name.split(".")[0] in heavy_roots or name.startswith(f"{package}.checks.")
    ]
