"""Grading helpers for the course's nbgrader exercises.

A test cell is one line (see :mod:`dlopt.grading.exercises`)::

    from dlopt.grading import check
    check("adam_step", adam_step)

Modules, one concept each:

- ``compare``: where two outputs first differ, as a message (case, step, element)
- ``tasks``: what a check asks of a function, run the same way in every process
- ``core``: what an exercise is (its cases, its contract, its catalogued mistakes)
- ``assignments``: one module per assignment: references, cases, exercises, mistakes
- ``references``: the reference answer of every exercise, collected from ``assignments``
- ``mistakes``: the catalogue of wrong answers, used for feedback and to test the tests
- ``exercises``: :func:`check` and :func:`judge`, and every exercise by name and grade id
- ``sandbox``: running an answer behind the operating system's walls (bubblewrap), with limits
- ``child``: what runs inside the sandbox (it sees only NumPy, ``tasks`` and ``stand_ins``)
- ``stand_ins``: correct versions of the functions one exercise may call from another
- ``nbgrader_plugin``: the preprocessor that makes ``nbgrader autograde`` score the verdict
- ``autograde_class``: grading a whole class on every core, into one gradebook

Attributes are imported lazily, so that the sandboxed child, which imports
:mod:`dlopt.grading.child` and finds no other module of the package, runs.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "check": "exercises",
    "judge": "exercises",
    "recognise": "exercises",
    "EXERCISES": "exercises",
    "Exercise": "exercises",
    "Case": "exercises",
    "MISTAKES": "mistakes",
    "Mistake": "mistakes",
    "mistakes_for": "mistakes",
    "first_mismatch": "compare",
    "Tolerance": "compare",
    "run_answer": "sandbox",
    "Limits": "sandbox",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"dlopt.grading.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'dlopt.grading' has no attribute {name!r}")
