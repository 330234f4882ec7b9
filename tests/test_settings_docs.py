"""Every environment variable evalsite/settings.py reads is documented for operators."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ROOT / "evalsite" / "settings.py"
DOCS = [ROOT / "README.md", ROOT / "docs" / "deploy.md", ROOT / "docs" / "ARCHITECTURE.md"]


def env_reads(source: str) -> set[str]:
    """Names read through django-environ (`env("X")`, `env.bool("X", …)`, `env.db_url("X")`)
    or os (`os.environ["X"]`, `os.environ.get("X")`, `os.getenv("X")`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and node.args:
            func, first = node.func, node.args[0]
            by_env = (isinstance(func, ast.Name) and func.id == "env") or (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id == "env"
            )
            by_os = isinstance(func, ast.Attribute) and (
                ast.unparse(func) in {"os.environ.get", "os.getenv", "os.environ.setdefault"}
            )
            if (by_env or by_os) and isinstance(first, ast.Constant):
                names.add(str(first.value))
        if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            if isinstance(node.slice, ast.Constant):
                names.add(str(node.slice.value))
    return names


def documented(text: str) -> set[str]:
    """Names written as code (`NAME` or `NAME=…`) in the documentation."""
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)(?:=[^`]*)?`", text))


def test_env_reads_finds_every_kind_of_read() -> None:
    source = (
        "import os\n"
        'A = env("ONE")\nB = env.bool("TWO", default=False)\nC = env.db_url("THREE")\n'
        'D = os.environ["FOUR"]\nE = os.environ.get("FIVE")\nF = os.getenv("SIX")\n'
        'G = other.get("NOT_ME")\nH = env.str(name)\n'
    )
    assert env_reads(source) == {"ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX"}


def test_documented_reads_code_spans_only() -> None:
    text = "Set `DATABASE_URL` or `DEBUG=0`; CACHE_URL in prose does not count, nor `lower`."
    assert documented(text) == {"DATABASE_URL", "DEBUG"}


def test_every_environment_variable_settings_reads_is_documented() -> None:
    read = env_reads(SETTINGS.read_text())
    # The parse must see the settings' reads, or this test would pass on nothing.
    assert {"DATABASE_URL", "CACHE_URL", "CELERY_BROKER_URL", "SECRET_KEY"} <= read
    docs = set().union(*(documented(path.read_text()) for path in DOCS if path.exists()))
    missing = sorted(read - docs)
    assert not missing, (
        f"evalsite/settings.py reads {', '.join(missing)} but no document names it: add each "
        "to the table of settings in docs/deploy.md (as `NAME`)."
    )


def test_readme_links_only_files_in_the_repository() -> None:
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)", readme)
    assert targets, "the README links its documents"
    outside = [t for t in targets if "://" in t or not (ROOT / t).resolve().is_relative_to(ROOT)]
    missing = [t for t in targets if t not in outside and not (ROOT / t).exists()]
    assert not outside and not missing, f"outside the repository: {outside}; missing: {missing}"
    assert "../" not in readme
