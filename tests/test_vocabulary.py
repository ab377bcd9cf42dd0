"""Each word of the course's vocabulary means one thing (issue 18, item 8).

The words follow nbgrader's: the **course root** is ``exercises/``; an **assignment** is
one notebook (``optimizers``), handed out and graded as a whole; an **exercise** is one
function a student writes in it (``adam_step``), registered as a
:class:`dlopt.grading.core.Exercise`; its **test cell** calls ``check``. "check" names only
that call (and the gradient check of :mod:`dlopt.gradcheck`, which is the same act: a
computation compared with an independent one); the package *validates* its arguments
(:mod:`dlopt._validation`), the grader *judges*, the task runner *enforces* the contract.
What can be stated mechanically is tested here.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from dlopt.grading import assignments

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "dlopt"
COURSE_SOURCE = ROOT / "exercises" / "source"

#: The names that may say "check": the call in every test cell, and the gradient check.
CHECK_NAMES = {
    ("grading/verdicts.py", "check"),
    ("gradcheck.py", "check_layer"),
}

#: The documents that use the vocabulary (chapter pages are edited elsewhere).
DOCS = [
    ROOT / "README.md",
    ROOT / "exercises" / "README.md",
    ROOT / "hub" / "README.md",
    ROOT / "chapters" / "exercises" / "exercises.md",
]


def defined_names(path: Path) -> list[str]:
    """Every function, class, method and assigned name a module defines, at any depth."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.append(node.id)
        elif isinstance(node, ast.arg):
            names.append(node.arg)
    return names


def test_only_the_test_cells_call_and_the_gradient_check_are_named_check():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if "check" in path.stem and relative != "gradcheck.py":
            found.append(f"module {relative}")
        found += [
            f"{relative}: {name}"
            for name in sorted(set(defined_names(path)))
            if "check" in name.lower() and (relative, name) not in CHECK_NAMES
        ]
    assert found == [], "these names say 'check' but validate, judge or enforce:\n" + "\n".join(
        found
    )


def test_no_module_of_the_package_or_the_tests_is_named_after_exercises():
    """ "exercise" is one graded function: a file is an assignment, a verdict, a submission..."""
    files = [*PACKAGE.rglob("*.py"), *(ROOT / "tests").rglob("*.py")]
    named = [p.relative_to(ROOT).as_posix() for p in files if "exercise" in p.stem]
    named += [
        p.relative_to(ROOT).as_posix()
        for p in [*PACKAGE.rglob("*"), *(ROOT / "tests").rglob("*")]
        if p.is_dir() and "exercise" in p.name
    ]
    assert named == []


def test_every_registered_exercise_is_a_function_of_a_registered_assignment():
    for name, exercise in assignments.EXERCISES.items():
        assert exercise.name == name and exercise.assignment in assignments.NAMES
        assert exercise.reference.__name__ == name, f"{name}: its reference is another function"


def _assignment_texts():
    for path in DOCS:
        yield path.relative_to(ROOT).as_posix(), path.read_text()
    for path in sorted([*COURSE_SOURCE.glob("*/*.ipynb"), *(ROOT / "chapters").glob("*/*.ipynb")]):
        cells = json.loads(path.read_text())["cells"]
        for i, cell in enumerate(cells):
            yield f"{path.relative_to(ROOT).as_posix()} cell {i}", "".join(cell["source"])


def test_the_docs_call_a_notebook_an_assignment_not_an_exercise():
    """ "the `optimizers` exercise", "exercise `optimizers`": an assignment called an exercise."""
    names = "|".join(assignments.NAMES)
    pattern = re.compile(
        rf"`({names})`\s+exercise|exercises?\s+`({names})`|graded exercise for this", re.I
    )
    found = [
        f"{where}: {m.group(0)!r}"
        for where, text in _assignment_texts()
        for m in pattern.finditer(text)
    ]
    assert found == []


@pytest.mark.parametrize("path", sorted(COURSE_SOURCE.glob("*/*.ipynb")), ids=lambda p: p.stem)
def test_what_released_notebooks_import_from_the_grading_package_still_exists(path):
    """Released notebooks are in students' hands: a rename must not break their test cells."""
    import dlopt.grading

    imported = set()
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        for line in source.splitlines():
            if m := re.match(r"\s*from dlopt\.grading import (.+)", line):
                imported |= {n.strip() for n in m.group(1).strip("()").split(",") if n.strip()}
    assert imported, "no test cell imports the grading helpers"
    assert [n for n in imported if not hasattr(dlopt.grading, n)] == []
