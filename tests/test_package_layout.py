"""How the package's modules use each other: no private helper crosses a module boundary."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "dlopt"

# every module is held to it (the grading package is a subpackage, held by its own tests)
EXEMPT: set[str] = set()


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_definitions(tree: ast.Module) -> set[str]:
    """Private names a module defines: top-level functions, classes, constants, methods."""
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
        if isinstance(node, ast.ClassDef):
            names |= {m.name for m in node.body if isinstance(m, ast.FunctionDef)}
    return {n for n in names if is_private(n)}


def identifiers(tree: ast.Module) -> set[str]:
    """Every name a module reads, imports by name or reaches as an attribute."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.ImportFrom):
            names |= {alias.name for alias in node.names}
    return names


def modules() -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text()) for p in sorted(PACKAGE.glob("*.py"))}


def test_the_scan_sees_a_private_import():
    tree = ast.parse("from dlopt.layers import _uniform_fan_in\nx = y._slots()")
    assert {"_uniform_fan_in", "_slots"} <= identifiers(tree)
    tree = ast.parse("class A:\n    def _f(self): pass\n_X = 1")
    assert private_definitions(tree) == {"_f", "_X"}


@pytest.mark.parametrize("user", sorted(set(modules()) - EXEMPT))
def test_no_module_uses_another_modules_private_names(user):
    trees = modules()
    own = private_definitions(trees[user])
    others = {
        name: owner
        for owner, tree in trees.items()
        if owner != user and owner not in EXEMPT
        for name in private_definitions(tree)
    }
    crossing = {name: others[name] for name in identifiers(trees[user]) - own if name in others}
    assert not crossing, f"dlopt.{user} uses private names of other modules: {crossing}"
