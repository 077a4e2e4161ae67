"""The shape of the code: engine's public surface, and console → engine ← providers."""

from __future__ import annotations

import ast
from pathlib import Path

import engine

ROOT = Path(__file__).resolve().parents[1]


def imported_packages(folder: str) -> set[tuple[str, str]]:
    found = set()
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {(str(path.relative_to(ROOT)), a.name.split(".")[0])
                          for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add((str(path.relative_to(ROOT)), node.module.split(".")[0]))
    return found


def test_engine_imports_no_provider_and_no_console() -> None:
    crossing = {(f, p) for f, p in imported_packages("engine") if p in ("providers", "console")}
    assert not crossing


def test_providers_never_import_the_console() -> None:
    assert not {(f, p) for f, p in imported_packages("providers") if p == "console"}


def test_providers_use_only_the_engines_public_names() -> None:
    for path in (ROOT / "providers").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                assert not node.module.startswith("engine."), (path, node.module)


def test_engine_public_surface_is_exactly_its_all() -> None:
    public = {name for name in dir(engine) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(engine, name)).__name__ == "module"}
    assert public - modules == set(engine.__all__)
    assert engine.__all__ == sorted(engine.__all__, key=lambda n: (not n.isupper(), n))
