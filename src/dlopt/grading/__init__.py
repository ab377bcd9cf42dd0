"""Grading helpers for the course's nbgrader assignments.

The words, as nbgrader uses them: the **course root** (``exercises/``, nbgrader's
``CourseDirectory.root``) holds one **assignment** per chapter (a notebook, e.g.
``optimizers``); an assignment holds **exercises**, each one function the student writes
(e.g. ``adam_step``) in an answer cell, followed by a **test cell** that calls :func:`check`
(see :mod:`dlopt.grading.verdicts`)::

    from dlopt.grading import check
    check("adam_step", adam_step)

``check`` is the only "check" in the package: the grader *judges* (:func:`judge`, a
:class:`~dlopt.grading.verdicts.Verdict`), the runner *enforces* a contract, and the rest
of the package *validates* its arguments (:mod:`dlopt._validation`).

Modules, one concept each:

- ``compare``: where two outputs first differ, as a message (case, step, element)
- ``tasks``: what a test asks of a function, run the same way in every process
- ``core``: what an exercise is (its cases, its contract, its catalogued mistakes)
- ``assignments``: one module per assignment (references, cases, exercises, mistakes), and
  the registry: ``EXERCISES`` by name, ``BY_GRADE_ID`` by test cell
- ``references``: the reference answer of every exercise, collected from ``assignments``
- ``mistakes``: the catalogue of wrong answers, used for feedback and to test the tests
- ``verdicts``: :func:`judge` (outputs against the reference's) and :func:`check`
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
    "check": "verdicts",
    "judge": "verdicts",
    "recognise": "verdicts",
    "EXERCISES": "assignments",
    "Exercise": "core",
    "Case": "core",
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
