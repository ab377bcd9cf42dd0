r"""A catalogue of wrong answers students really write, collected from the assignment modules.

Each :class:`Mistake` is real code: the answer cell a student with that
misconception would write (same function name and signature as the
exercise). The catalogue serves twice:

- **feedback**: when an answer is wrong, :func:`dlopt.grading.verdicts.check`
  runs every catalogued mistake of the exercise on the same problem and, if
  one gives the student's output, says so ("this matches Adam without bias
  correction") instead of only "values differ";
- **testing the tests**: ``tests/test_assignments.py`` puts each mistake's code
  into a submission and asserts that ``nbgrader autograde`` takes the points
  of that exercise, and only those.

To add a mistake: append a ``_m(exercise, key, description, source)`` to the ``MISTAKES``
of the exercise's module in :mod:`dlopt.grading.assignments`; the description completes
the sentence "this matches ..."; the tests pick it up automatically.
"""

from __future__ import annotations

from dlopt.grading import assignments
from dlopt.grading.assignments import mistakes_for
from dlopt.grading.core import Mistake

MISTAKES: list[Mistake] = assignments.mistakes()

__all__ = ["MISTAKES", "Mistake", "mistakes_for"]
