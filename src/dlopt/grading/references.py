r"""The reference answer of every exercise, by name, collected from the assignment modules.

Each reference is what an exercise's answer cell must compute, written as a thin call into
the package (:mod:`dlopt.rules`, :mod:`dlopt.layers`, ...), which ``tests/`` hold to
PyTorch, so that the exercises and the book can never disagree. The functions live with
their assignment in :mod:`dlopt.grading.assignments`; this module gathers them:
``references.adam_step`` and ``REFERENCES["adam_step"]`` are the same function.

Stand-ins (references that replace a student's earlier answer while a later one is graded)
are in :data:`dlopt.grading.tasks.STAND_INS`.
"""

from __future__ import annotations

from dlopt.grading import assignments
from dlopt.grading.assignments.gradient_descent import mse_gradient  # a helper tests call

REFERENCES = {name: e.reference for name, e in assignments.EXERCISES.items()}

globals().update(REFERENCES)
__all__ = ["REFERENCES", "mse_gradient"]
__all__ += sorted(REFERENCES)
