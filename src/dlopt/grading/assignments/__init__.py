"""The registry of graded assignments: one module per assignment, found by name.

Each module ``dlopt.grading.assignments.<assignment>`` (the folder name of its notebook in
``exercises/source/``) holds everything its exercises need: the reference functions, the
case makers, ``EXERCISES`` (a list of :class:`~dlopt.grading.core.Exercise`) and
``MISTAKES`` (a list of :class:`~dlopt.grading.core.Mistake`). :mod:`dlopt.grading.verdicts`,
:mod:`dlopt.grading.references` and :mod:`dlopt.grading.mistakes` collect them from here,
and the trusted grader finds an exercise by its test cell's grade id
(:data:`BY_GRADE_ID`).

To add an exercise: write its reference, its case maker and its mistakes in its
assignment's module and add an ``Exercise`` to that module's ``EXERCISES``; then the
notebook (answer cell ``<name>``, test cell ``test_<name>``) and a correct variant in
``tests/submissions/variants.py``. A new assignment is a new module named in
:data:`NAMES`.
"""

from __future__ import annotations

import importlib
from functools import cache

#: The assignments, in the course's order (the folder names under ``exercises/source``).
NAMES = (
    "gradient_descent",
    "optimizers",
    "activations",
    "initialization",
    "batch_norm",
    "regularization",
    "fine_tuning",
    "large_models",
)


@cache
def modules() -> tuple:
    """The assignment modules of :data:`NAMES`, imported."""
    return tuple(importlib.import_module(f"{__name__}.{name}") for name in NAMES)


@cache
def exercises() -> dict:
    """Every registered exercise by function name, in the course's order (:data:`EXERCISES`)."""
    found = {}
    for module in modules():
        for exercise in module.EXERCISES:
            if exercise.name in found:
                raise ValueError(f"exercise {exercise.name!r} is registered twice")
            if exercise.assignment != module.__name__.rsplit(".", 1)[1]:
                raise ValueError(
                    f"exercise {exercise.name!r} names the assignment "
                    f"{exercise.assignment!r} but lives in {module.__name__}"
                )
            found[exercise.name] = exercise
    return found


@cache
def by_grade_id() -> dict:
    """Every registered exercise by the grade id of its test cell (also :data:`BY_GRADE_ID`)."""
    return {e.grade_id: e for e in exercises().values()}


def __getattr__(name: str):
    # EXERCISES and BY_GRADE_ID are built on first use: the assignment modules import this
    # package, so they cannot be built while it is being imported
    if name == "EXERCISES":
        return exercises()
    if name == "BY_GRADE_ID":
        return by_grade_id()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def mistakes() -> list:
    """Every catalogued mistake, assignment by assignment."""
    return [m for module in modules() for m in module.MISTAKES]


def mistakes_for(exercise: str) -> list:
    """The catalogued mistakes of one exercise."""
    return [m for m in mistakes() if m.exercise == exercise]
