"""No helper is copied between chapter pages: what two pages share lives in the package.

A function (or class) defined in the code cells of one page is a copy of one on another page
when their code, with the name and the docstring left out, is the same or nearly the same
(difflib ratio at least SIMILAR). Pages may each define a small function of the same name that
does something else (a page's own ``train`` or ``loss``): the scan compares code, not names.
Assignment notebooks are left out: their answer cells are the student's own implementations.
"""

from __future__ import annotations

import ast
import copy
import difflib
import itertools
import json
from pathlib import Path

from dlopt.grading.child import strip_magics

ROOT = Path(__file__).resolve().parents[1]
SIMILAR = 0.9


def definitions(source: str) -> list[tuple[str, str]]:
    """``(name, code)`` of every function and class in ``source``, code without name and
    docstring, as ``ast.unparse`` writes it (so comments and layout do not count)."""
    found = []
    python = strip_magics(source)  # IPython magics and shell escapes, as the grader reads cells
    for node in ast.walk(ast.parse(python)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            anonymous = copy.deepcopy(node)
            anonymous.name = "_"
            body = anonymous.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                anonymous.body = body[1:] or [ast.Pass()]
            found.append((node.name, ast.unparse(anonymous)))
    return found


def page_definitions(notebook: Path) -> list[tuple[str, str]]:
    cells = json.loads(notebook.read_text())["cells"]
    return [
        definition
        for cell in cells
        if cell["cell_type"] == "code"
        for definition in definitions("".join(cell["source"]))
    ]


def copies(pages: dict[str, list[tuple[str, str]]]) -> list[str]:
    """Every pair of pages that define the same code, as readable lines."""
    found = []
    for (page_a, defs_a), (page_b, defs_b) in itertools.combinations(sorted(pages.items()), 2):
        for (name_a, code_a), (name_b, code_b) in itertools.product(defs_a, defs_b):
            matcher = difflib.SequenceMatcher(None, code_a, code_b, autojunk=False)
            # the cheap upper bounds first: most pairs are far apart
            if matcher.real_quick_ratio() < SIMILAR or matcher.quick_ratio() < SIMILAR:
                continue
            if (ratio := matcher.ratio()) >= SIMILAR:
                found.append(f"{page_a}: {name_a} ~ {page_b}: {name_b} ({ratio:.2f} alike)")
    return found


def test_the_scan_finds_a_helper_copied_with_a_new_name_docstring_and_comments():
    original = 'def settles_at(losses, target):\n    """Doc."""\n    return min(losses) < target\n'
    renamed = "def settled(losses, target):\n    return min(losses) < target  # a comment\n"
    other = "def train(model):\n    return model.fit(epochs=3)\n"
    pages = {"a": definitions(original), "b": definitions(renamed), "c": definitions(other)}
    assert copies(pages) == ["a: settles_at ~ b: settled (1.00 alike)"]


def test_no_function_is_defined_on_two_chapter_pages():
    notebooks = sorted((ROOT / "chapters").glob("*/*.ipynb"))
    assert len(notebooks) > 20
    pages = {str(nb.relative_to(ROOT / "chapters")): page_definitions(nb) for nb in notebooks}
    found = copies(pages)
    assert not found, "move these into the package and import them:\n" + "\n".join(found)
