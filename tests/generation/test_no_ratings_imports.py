"""generation/ owns its concepts: no module under it imports the ratings app (the dependency runs one way: ratings uses generation)."""

from __future__ import annotations

import ast
from pathlib import Path

import generation

ROOT = Path(generation.__file__).parent


def _imported_modules(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):  # walks function bodies too: a deferred import counts
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def test_no_module_under_generation_imports_ratings() -> None:
    offenders = [
        f"{path.relative_to(ROOT.parent)}: {name}"
        for path in sorted(ROOT.rglob("*.py"))
        for name in _imported_modules(ast.parse(path.read_text(), filename=str(path)))
        if name == "ratings" or name.startswith("ratings.")
    ]
    assert offenders == []


def test_the_walk_sees_deferred_imports() -> None:
    tree = ast.parse("def f():\n    from ratings.models import Study\n    import ratings.pairs\n")
    assert _imported_modules(tree) == ["ratings.models", "ratings.pairs"]
