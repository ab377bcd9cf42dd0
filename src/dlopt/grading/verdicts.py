r"""Verdicts: an answer's outputs judged against the reference, and the ``check`` a test cell calls.

A test cell reads::

    from dlopt.grading import check
    check("adam_step", adam_step)                # visible: fixed small problems
    ### BEGIN HIDDEN TESTS
    check("adam_step", adam_step, hidden=True)   # fresh problems drawn now, many steps
    ### END HIDDEN TESTS

:func:`check` builds the exercise's **cases** (problems with their
hyperparameters; hidden ones are drawn from a fresh seed at grading time, so
no expected value can be read off the notebook), runs the student's function
and the reference (:mod:`dlopt.grading.references`) on each, and raises an
``AssertionError`` that names the case, the step or batch, the element, the
expected and the obtained value, and, when the output equals a catalogued
mistake's (:mod:`dlopt.grading.mistakes`), which mistake it is.

In the notebook's kernel this gives feedback only: the kernel runs the
student's code, which could rebind anything. During ``nbgrader autograde``
the grade is decided again by :class:`dlopt.grading.nbgrader_plugin.TrustedExecute`
with the same cases, running the answer in a sandboxed process
(:mod:`dlopt.grading.sandbox`) and calling :func:`judge` in the grader's own process.
The verdict of ``check`` agrees with that grade: the same
:func:`~dlopt.grading.tasks.run_task` enforces the same contract, an import of ``dlopt``
or ``torch`` inside the answer fails as it does in the grading process (where neither
exists), and what the answer writes to stderr (which nbgrader would count as an error) is
shown as ordinary output instead.

The exercises themselves (references, cases, catalogued mistakes) live one assignment per
module in :mod:`dlopt.grading.assignments`, which also holds the registry
(``EXERCISES`` by name, ``BY_GRADE_ID`` by test cell). To add an exercise, see that
package's docstring.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import io
import logging
import math
import os
import re
import sys
from dataclasses import dataclass, field

from dlopt.grading import assignments
from dlopt.grading.child import not_available_message
from dlopt.grading.compare import distance, first_mismatch
from dlopt.grading.core import FLOAT32, FLOAT64, Case, Exercise, quadratic_task
from dlopt.grading.tasks import KEPT_GRAD, REBOUND, Outcome, load_stand_ins, run_task

#: The packages an answer must not call: it would pass by calling the reference.
FORBIDDEN_MODULES = ("dlopt", "torch")

__all__ = [
    "FLOAT32",
    "FLOAT64",
    "FORBIDDEN_MODULES",
    "Case",
    "Exercise",
    "Verdict",
    "check",
    "forbidden_reference",
    "judge",
    "quadratic_task",
    "recognise",
]


@dataclass
class Verdict:
    """The result of judging one exercise: passed, and if not, why."""

    exercise: str
    passed: bool
    n_cases: int
    messages: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.passed:
            return f"{self.exercise}: all {self.n_cases} cases agree with the reference."
        return "\n".join(self.messages)


# --------------------------------------------------------------------------- the test cell's call


def check(name: str, fn, *, hidden: bool = False) -> None:
    """Test the student's ``fn`` on exercise ``name``; raise ``AssertionError`` with feedback.

    Prints a one-line summary when every case agrees with the reference. Under
    ``nbgrader autograde`` it refuses to pass unless the kernel runs in the course's
    sandbox, so a grader whose configuration did not load sees zeros, not silent
    unprotected grades.
    """
    registry = assignments.exercises()
    if name not in registry:
        raise ValueError(f"Invalid exercise: {name!r} (expected one of {sorted(registry)})")
    exercise = registry[name]
    if (
        os.environ.get("NBGRADER_EXECUTION") == "autograde"
        and os.environ.get("DLOPT_SANDBOXED") != "1"
    ):
        raise AssertionError(
            "this notebook is being autograded without the course's sandbox: nbgrader did not "
            "load exercises/nbgrader_config.py (or it failed; see the start of nbgrader's log)"
        )
    if not callable(fn):
        raise AssertionError(f"{name} must be a function, got {fn!r}")
    problem = forbidden_reference(fn)
    if problem:
        raise AssertionError(problem)
    cases = exercise.cases(hidden)
    stand_ins = load_stand_ins()
    written = io.StringIO()
    with _stderr_captured(written), _imports_blocked():
        outcomes = [
            run_task(c.task, fn, stand_ins=stand_ins, time_limit=exercise.time_limit) for c in cases
        ]
    if written.getvalue():  # nbgrader fails a cell that writes to stderr: show it as text
        lines = written.getvalue().rstrip("\n").splitlines()
        print(
            f"(your function wrote {len(lines)} line(s) to stderr, shown here; the grader "
            "ignores them)",
            *[f"  {line}" for line in lines[:5]],
            sep="\n",
        )
    verdict = judge(exercise, cases, outcomes)
    if not verdict.passed:
        raise AssertionError(verdict.summary())
    print(("hidden tests: " if hidden else "") + verdict.summary())


@contextlib.contextmanager
def _stderr_captured(buffer: io.StringIO):
    """Send what the answer writes to stderr into ``buffer``: ``sys.stderr`` itself, and the
    logging handlers that already write to it (``logging.basicConfig`` binds the stream once).

    Afterwards, a handler that the answer's logging created during the calls, bound to
    ``buffer``, is pointed back at the real stderr.
    """
    real = sys.stderr
    handlers = [
        h
        for h in _logging_handlers()
        if isinstance(h, logging.StreamHandler) and h.stream in (real, sys.__stderr__)
    ]
    moved = [(h, h.setStream(buffer)) for h in handlers]
    try:
        with contextlib.redirect_stderr(buffer):
            yield
    finally:
        for handler, stream in moved:
            handler.setStream(stream)
        for handler in _logging_handlers():
            if isinstance(handler, logging.StreamHandler) and handler.stream is buffer:
                handler.setStream(real)


def _logging_handlers() -> list:
    loggers = [
        logging.getLogger(),
        *[v for v in logging.Logger.manager.loggerDict.values() if isinstance(v, logging.Logger)],
    ]
    return [h for logger in loggers for h in logger.handlers]


@contextlib.contextmanager
def _imports_blocked():
    """While the answer runs, importing ``dlopt`` or ``torch`` from its code (``import``,
    ``__import__``, ``importlib.import_module``) fails as in the grading process, where
    neither exists (in the notebook's kernel both are already loaded).

    Imports made by the package itself (a stand-in's lazy import) go through.
    """
    real_import, real_import_module = builtins.__import__, importlib.import_module

    def refuse(name: str, importer: str) -> None:
        top = name.split(".")[0]
        if top in FORBIDDEN_MODULES and importer.split(".")[0] not in FORBIDDEN_MODULES:
            raise ImportError(not_available_message(top))  # the grading child's words

    def guarded(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0:
            refuse(name, (globals or {}).get("__name__", "") or "")
        return real_import(name, globals, locals, fromlist, level)

    def guarded_module(name, package=None):
        if not name.startswith("."):
            refuse(name, sys._getframe(1).f_globals.get("__name__", "") or "")
        return real_import_module(name, package)

    builtins.__import__, importlib.import_module = guarded, guarded_module
    try:
        yield
    finally:
        builtins.__import__, importlib.import_module = real_import, real_import_module


def judge(
    exercise: Exercise, cases: list[Case], outcomes: list[Outcome], *, answer_errors: list[str] = ()
) -> Verdict:
    """Compare ``outcomes`` (the student's, one per case) with the reference's.

    Runs in the grading process: the reference and the catalogued mistakes run
    here, the student's outcomes are plain data. The message reports the first
    failing case and how many failed; ``answer_errors`` (errors raised while
    the answer cells ran) are appended when the student's function failed.
    """
    stand_ins = load_stand_ins()
    failures = []
    for i, (case, outcome) in enumerate(zip(cases, outcomes, strict=True)):
        expected = run_task(case.task, exercise.reference, stand_ins=stand_ins)
        problem = _compare(case, expected, outcome)
        if problem:
            failures.append((i, case, outcome, problem, expected))
    if not failures:
        return Verdict(exercise.name, True, len(cases))
    i, case, outcome, problem, expected = failures[0]
    lines = [
        f"{exercise.name} is wrong on case {i + 1} of {len(cases)} ({case.label}):",
        f"  {problem}",
    ]
    if case.annotate is not None and not outcome.error:
        note = case.annotate(case.task, expected.value, outcome.value)
        if note:
            lines.append(f"  {note}")
    lines += [f"  {hint}" for hint in _hints(outcome)]
    match = recognise(exercise, case, outcome, stand_ins=stand_ins)
    if match is not None:
        lines.append(f"  This matches a known mistake: {match.description}.")
    if len(failures) > 1:
        lines.append(f"  ({len(failures)} of {len(cases)} cases fail.)")
    if outcome.error and answer_errors:
        lines.append("  Errors while running your answer cells:")
        lines += [f"    {e}" for e in answer_errors]
    return Verdict(exercise.name, False, len(cases), lines)


def _hints(outcome: Outcome) -> list[str]:
    """What the runner noticed about a wrong answer (see :class:`~dlopt.grading.tasks.Outcome`)."""
    hints = []
    for note in outcome.notes or []:
        if note.startswith(REBOUND):
            _, step, name = note.split(" ", 2)
            hints.append(
                f"Your function rebinds its parameter `{name}` ({name} = ...) at step {step}, "
                f"whether it returns the result or not: that changes a local name only, and the "
                f"caller's array keeps its old values. Update it in place: {name} -= ..., "
                f"{name} *= ..., or {name}[...] = ...."
            )
        elif note == KEPT_GRAD:
            hints.append(
                "Your state keeps a reference to the caller's `grad` array (state[...] = grad): "
                "the caller overwrites that array with the next step's gradient, so keep a "
                "copy (grad.copy())."
            )
    return hints


def _compare(case: Case, expected: Outcome, got: Outcome) -> str | None:
    if expected.error:  # the reference failing is a bug in the exercise, not the student's
        raise RuntimeError(f"the reference failed on {case.label}: {expected.error}")
    if got.error:
        raised = re.match(r"\w+(Error|Exception|Timeout|Exit|Interrupt)\b", got.error)
        return f"your function raised {got.error}" if raised else got.error
    mismatch = first_mismatch(
        expected.value, got.value, case.tolerance, labels=case.labels, axis0=case.axis0
    )
    return None if mismatch is None else str(mismatch)


def recognise(exercise: Exercise, case: Case, outcome: Outcome, *, stand_ins=None):
    """The catalogued mistake whose output on ``case`` equals the student's, or ``None``.

    Every mistake of the exercise runs on the same task; the one at the smallest
    :func:`~dlopt.grading.compare.distance` from the student's output is named
    if it agrees within the case's tolerance (or failed with the same error).
    """
    stand_ins = load_stand_ins() if stand_ins is None else stand_ins
    best, best_distance = None, math.inf
    for mistake in exercise.mistakes:
        theirs = run_task(case.task, mistake.function(), stand_ins=stand_ins, time_limit=5.0)
        if outcome.error or theirs.error:
            if outcome.error and theirs.error and _same_error(outcome.error, theirs.error):
                return mistake
            continue
        if (
            first_mismatch(
                theirs.value, outcome.value, case.tolerance, labels=case.labels, axis0=case.axis0
            )
            is None
        ):
            d = distance(theirs.value, outcome.value)
            if d < best_distance:
                best, best_distance = mistake, d
    return best


def _same_error(a: str, b: str) -> bool:
    return a.split(" (line")[0] == b.split(" (line")[0]


def forbidden_reference(fn) -> str | None:
    """A message if ``fn`` refers to a module in :data:`FORBIDDEN_MODULES` (or to its objects).

    Looks at the global names the function's code (and nested code) uses. This
    gives early feedback in the notebook; the grade does not rely on it (the
    sandbox blocks the imports).
    """
    code, namespace = getattr(fn, "__code__", None), getattr(fn, "__globals__", {})
    if code is None:
        return None
    names, stack = set(), [code]
    while stack:
        c = stack.pop()
        names.update(c.co_names)
        stack += [k for k in c.co_consts if hasattr(k, "co_names")]
    for name in sorted(names):
        obj = namespace.get(name)
        is_module = type(obj).__name__ == "module"
        module = (
            getattr(obj, "__name__", "") if is_module else getattr(obj, "__module__", "")
        ) or ""
        if module.split(".")[0] in FORBIDDEN_MODULES:
            what = f"the module {module}" if is_module else f"{name} from {module}"
            return (
                f"{fn.__name__} uses {what}: answers must implement the computation "
                f"with NumPy, not call dlopt or torch (the grader blocks them)."
            )
    return None
