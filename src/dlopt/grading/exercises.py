r"""The graded exercises: how each is checked, and the one-line check a test cell calls.

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
the grade is decided again by :class:`dlopt.grading.nbgrader_plugin.TrustedRegrade`
with the same cases, running the answer in a sandboxed process
(:mod:`dlopt.grading.sandbox`) and comparing in the grader's own process.

To add an exercise: write its reference in :mod:`~dlopt.grading.references`,
a ``cases(rng, hidden)`` generator here, register an :class:`Exercise`, and
catalogue its typical mistakes; name the test cell's grade id ``test_<function>``.
"""

from __future__ import annotations

import builtins
import contextlib
import inspect
import io
import math
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from dlopt.grading import references
from dlopt.grading.compare import Tolerance, close_mask, distance, first_mismatch
from dlopt.grading.mistakes import Mistake, mistakes_for
from dlopt.grading.tasks import (
    KEPT_GRAD,
    REBOUND,
    CallTask,
    Outcome,
    Rng,
    RuleTask,
    load_stand_ins,
    run_task,
)

#: The packages an answer must not call: it would pass by calling the reference.
FORBIDDEN_MODULES = ("dlopt", "torch")

FLOAT64 = Tolerance(rtol=1e-7, atol=1e-10)
FLOAT32 = Tolerance(rtol=1e-4, atol=1e-5)


@dataclass
class Case:
    """One problem: a task, a label that describes it to the student, how to compare outputs."""

    label: str
    task: RuleTask | CallTask
    tolerance: Tolerance = FLOAT64
    labels: tuple = ()
    axis0: str | None = None
    #: ``annotate(task, expected, got)``: a sentence about the special input where the first
    #: difference is ("there x = 0"), or None
    annotate: Callable | None = None


@dataclass(frozen=True)
class Exercise:
    """An autograded exercise: the function students write and how to draw its cases."""

    name: str
    assignment: str
    make_cases: Callable[[np.random.Generator, bool], list[Case]]
    time_limit: float = 5.0  # seconds per case for the student's function (they take ~0.03 s)
    may_modify: tuple = ()  # arguments the contract lets the function change in place
    may_alias: tuple = ()  # arguments a returned array may share memory with

    @property
    def grade_id(self) -> str:
        return f"test_{self.name}"

    @property
    def reference(self):
        return references.REFERENCES[self.name]

    @property
    def mistakes(self) -> list[Mistake]:
        return mistakes_for(self.name)

    def cases(self, hidden: bool = False, *, seed: int | None = None) -> list[Case]:
        """Visible cases (a fixed seed per exercise) or hidden ones (a fresh seed unless given)."""
        if hidden:
            seed = secrets.randbits(63) if seed is None else seed
        else:
            seed = sum(map(ord, self.name)) if seed is None else seed
        cases = self.make_cases(np.random.default_rng(seed), hidden)
        for case in cases:  # the contract's names, stated once per exercise
            if isinstance(case.task, CallTask):
                case.task.arg_names = case.task.arg_names or self.positional_names()
                case.task.may_modify = list(self.may_modify)
                case.task.may_alias = list(self.may_alias)
        return cases

    def positional_names(self) -> list[str]:
        """The names of the reference's positional parameters, for messages."""
        return [p.name for p in inspect.signature(self.reference).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


@dataclass
class Verdict:
    """The result of checking one exercise: passed, and if not, why."""

    exercise: str
    passed: bool
    n_cases: int
    messages: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.passed:
            return f"{self.exercise}: all {self.n_cases} cases agree with the reference."
        return "\n".join(self.messages)


# --------------------------------------------------------------------------- checking


def check(name: str, fn, *, hidden: bool = False) -> None:
    """Check the student's ``fn`` for exercise ``name``; raise ``AssertionError`` with feedback.

    Prints a one-line summary when every case agrees with the reference. Under
    ``nbgrader autograde`` it refuses to pass unless the kernel runs in the course's
    sandbox, so a grader whose configuration did not load sees zeros, not silent
    unprotected grades.
    """
    if name not in EXERCISES:
        raise ValueError(f"Invalid exercise: {name!r} (expected one of {sorted(EXERCISES)})")
    exercise = EXERCISES[name]
    if os.environ.get("NBGRADER_EXECUTION") == "autograde" and \
            os.environ.get("DLOPT_SANDBOXED") != "1":
        raise AssertionError(
            "this notebook is being autograded without the course's sandbox: nbgrader did not "
            "load exercises/nbgrader_config.py (or it failed; see the start of nbgrader's log)")
    if not callable(fn):
        raise AssertionError(f"{name} must be a function, got {fn!r}")
    problem = forbidden_reference(fn)
    if problem:
        raise AssertionError(problem)
    cases = exercise.cases(hidden)
    stand_ins = load_stand_ins()
    written = io.StringIO()
    with contextlib.redirect_stderr(written), _imports_blocked():
        outcomes = [run_task(c.task, fn, stand_ins=stand_ins, time_limit=exercise.time_limit)
                    for c in cases]
    if written.getvalue():  # nbgrader fails a cell that writes to stderr: show it as text
        lines = written.getvalue().rstrip("\n").splitlines()
        print(f"(your function wrote {len(lines)} line(s) to stderr, shown here; the grader "
              "ignores them)", *[f"  {line}" for line in lines[:5]], sep="\n")
    verdict = judge(exercise, cases, outcomes)
    if not verdict.passed:
        raise AssertionError(verdict.summary())
    print(("hidden tests: " if hidden else "") + verdict.summary())


@contextlib.contextmanager
def _imports_blocked():
    """While the answer runs, ``import dlopt``/``import torch`` from its code fail as in the
    grading process, where neither exists (they are already loaded in the notebook's kernel).

    Imports made by the package itself (a stand-in's lazy import) go through.
    """
    real_import = builtins.__import__

    def guarded(name, globals=None, locals=None, fromlist=(), level=0):
        importer = (globals or {}).get("__name__", "") or ""
        top = name.split(".")[0]
        if level == 0 and top in FORBIDDEN_MODULES and \
                importer.split(".")[0] not in FORBIDDEN_MODULES:
            raise ImportError(  # the grader's child fails at the top-level package first
                f"importing {top} is not allowed in an answer: implement the computation "
                f"yourself with NumPy (the grader compares it with dlopt's reference)")
        return real_import(name, globals, locals, fromlist, level)

    builtins.__import__ = guarded
    try:
        yield
    finally:
        builtins.__import__ = real_import


def judge(exercise: Exercise, cases: list[Case], outcomes: list[Outcome],
          *, answer_errors: list[str] = ()) -> Verdict:
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
    lines = [f"{exercise.name} is wrong on case {i + 1} of {len(cases)} ({case.label}):",
             f"  {problem}"]
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
                f"{name} *= ..., or {name}[...] = ....")
        elif note == KEPT_GRAD:
            hints.append(
                "Your state keeps a reference to the caller's `grad` array (state[...] = grad): "
                "the caller overwrites that array with the next step's gradient, so keep a "
                "copy (grad.copy()).")
    return hints


def _compare(case: Case, expected: Outcome, got: Outcome) -> str | None:
    if expected.error:  # the reference failing is a bug in the exercise, not the student's
        raise RuntimeError(f"the reference failed on {case.label}: {expected.error}")
    if got.error:
        raised = re.match(r"\w+(Error|Exception|Timeout|Exit|Interrupt)\b", got.error)
        return f"your function raised {got.error}" if raised else got.error
    mismatch = first_mismatch(expected.value, got.value, case.tolerance,
                              labels=case.labels, axis0=case.axis0)
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
        if first_mismatch(theirs.value, outcome.value, case.tolerance,
                          labels=case.labels, axis0=case.axis0) is None:
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
        module = (getattr(obj, "__name__", "") if is_module else
                  getattr(obj, "__module__", "")) or ""
        if module.split(".")[0] in FORBIDDEN_MODULES:
            what = f"the module {module}" if is_module else f"{name} from {module}"
            return (f"{fn.__name__} uses {what}: answers must implement the computation "
                    f"with NumPy, not call dlopt or torch (the grader blocks them).")
    return None


# --------------------------------------------------------------------------- problems


def _loguniform(rng, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def quadratic_task(rng, function: str, *, shape, dtype, steps: int, hyper: dict,
                   grad_scale: float = 1.0, noise: float = 0.3) -> RuleTask:
    r"""A random quadratic :math:`\tfrac12\theta^\top A\theta - b^\top\theta` with
    eigenvalues of :math:`A` in [0.2, 5] times ``grad_scale``, and gradient noise."""
    d = math.prod(shape)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    eigenvalues = np.exp(rng.uniform(math.log(0.2), math.log(5.0), d))
    A = grad_scale * (Q * eigenvalues) @ Q.T
    b = grad_scale * rng.standard_normal(d)
    xi = grad_scale * noise * rng.standard_normal((steps, *shape))
    param0 = rng.standard_normal(shape).astype(dtype)
    return RuleTask(function, param0, A, b, xi, dict(hyper))


def _rule_case(task: RuleTask) -> Case:
    dtype = task.param0.dtype
    hyper = ", ".join(f"{k}={v}" if isinstance(v, bool) else f"{k}={v:.4g}"
                      for k, v in task.hyper.items())
    label = f"shape {task.param0.shape}, {dtype}, {hyper}; {task.steps} steps"
    if task.lr_factors is not None:
        label += "; lr changes at every step (lr times a factor in [0.25, 1.25])"
    return Case(label, task, FLOAT32 if dtype == np.float32 else FLOAT64, axis0="step")


_SHAPES = [(3,), (2, 3), (2, 2, 3)]  # the visible cases: one of each rank
_SHAPES_BY_RANK = [[(3,), (5,), (7,)], [(2, 3), (3, 4), (4, 2)], [(2, 2, 3), (3, 1, 2), (2, 3, 2)]]


def _rule_cases(function: str, draw_hyper: Callable) -> Callable:
    """Cases for an update rule: 3 visible (20-30 steps), 8 hidden (150-300 steps, 2 in float32).

    ``draw_hyper(rng, i, grad_scale, eigen_max)`` returns case ``i``'s hyperparameters.
    Parameters of rank 1, 2 and 3 in turn; the learning rate changes at every step
    (a factor in [0.25, 1.25] of ``lr``) in the second visible case and every other
    hidden one, so a rule that folds ``lr`` into its state shows.
    """

    def make(rng, hidden: bool) -> list[Case]:
        n = 8 if hidden else 3
        cases = []
        for i in range(n):
            shapes = _SHAPES_BY_RANK[i % 3]
            shape = shapes[int(rng.integers(len(shapes)))] if hidden else _SHAPES[i]
            dtype = np.float32 if i in ((2, 5) if hidden else (2,)) else np.float64
            steps = int(rng.integers(150, 301)) if hidden else 20 + 5 * i
            grad_scale = 10.0 ** float(rng.uniform(-2, 1)) if hidden else (1.0, 0.1, 1.0)[i]
            hyper = draw_hyper(rng, i, grad_scale, 5.0 * grad_scale)
            task = quadratic_task(rng, function, shape=shape, dtype=dtype, steps=steps,
                                  hyper=hyper, grad_scale=grad_scale)
            if i % 2 == 1:
                task.lr_factors = rng.uniform(0.25, 1.25, steps)
            cases.append(_rule_case(task))
        return cases

    return make


def _momentum_hyper(rng, i, grad_scale, eigen_max):
    return {"lr": rng.uniform(0.05, 0.3) / eigen_max, "momentum": rng.uniform(0.5, 0.95)}


_EPS_CYCLE = (1e-8, 1e-3, 0.1, 1e-2)  # large eps in some cases, so where it sits shows


def _rmsprop_hyper(rng, i, grad_scale, eigen_max):
    return {"lr": _loguniform(rng, 1e-3, 3e-2), "alpha": rng.uniform(0.8, 0.99),
            "eps": _EPS_CYCLE[i % 4] * grad_scale}


def _adam_hyper(rng, i, grad_scale, eigen_max):
    return {"lr": _loguniform(rng, 3e-3, 5e-2), "beta1": rng.uniform(0.8, 0.95),
            "beta2": rng.uniform(0.9, 0.999), "eps": _EPS_CYCLE[i % 4] * grad_scale}


def _adamw_hyper(rng, i, grad_scale, eigen_max):
    return {**_adam_hyper(rng, i, grad_scale, eigen_max),
            "weight_decay": rng.uniform(0.1, 1.0)}


def _minibatch_cases(rng, hidden: bool) -> list[Case]:
    shapes = [(10, 2, 3), (12, 1, 5), (8, 3, 8)] if not hidden else [
        (int(n), int(d), int(B)) for n, d, B in zip(
            rng.integers(9, 41, 8), rng.integers(1, 4, 8), [1, 2, 3, 5, 7, 16, 50, 4])]
    cases = []
    for n, d, B in shapes:
        X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
        seed = int(rng.integers(2**31))
        task = CallTask("minibatches", [([X, y, B], {"rng": Rng(seed)})])
        label = f"n = {n} samples, batch_size = {B}, rng = default_rng({seed})"
        cases.append(Case(label, task, FLOAT64, labels=(("the batches",), "batch", ("X", "y"))))
    return cases


def _sgd_epoch_cases(rng, hidden: bool) -> list[Case]:
    sizes = [(20, 2, 5), (13, 3, 4)] if not hidden else [
        (int(n), int(d), int(B)) for n, d, B in zip(
            rng.integers(10, 60, 6), rng.integers(1, 5, 6), [1, 3, 4, 7, 10, 64])]
    cases = []
    for n, d, B in sizes:
        X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
        w0, b0 = rng.standard_normal(d), float(rng.standard_normal())
        lr, seed = float(rng.uniform(0.01, 0.1)), int(rng.integers(2**31))
        task = CallTask("sgd_epoch", [([w0, b0, X, y], {"lr": lr, "batch_size": B,
                                                        "rng": Rng(seed)})],
                        stand_ins=["minibatches"])
        label = (f"n = {n}, d = {d}, batch_size = {B}, lr = {lr:.4g}, "
                 f"rng = default_rng({seed}); the reference minibatches stands in for yours")
        cases.append(Case(label, task, FLOAT64, labels=(("the result",), ("w", "b"))))
    return cases


def _stopping_calls(rng, n: int) -> list[tuple[list, dict]]:
    """Loss histories around both decision boundaries.

    Call ``i`` has ``k`` iterations done, one of 0, 1, 2, M-1, M, M+1 for
    ``max_iters`` M (``i % 6``), and a last change (``i // 6 % 5``) that is a
    decrease by more than ``tol``, a decrease by less, an increase by more, or a
    decrease or an increase by **exactly** ``tol`` (``tol`` is then the float
    difference of the two losses, so ``<`` and ``<=`` disagree there). The losses
    sit on a level of 2 to 10, so that a relative change differs from the absolute one.
    """
    calls = []
    for i in range(n):
        max_iters = int(rng.integers(3, 9))
        k = (0, 1, 2, max_iters - 1, max_iters, max_iters + 1)[i % 6]
        tol = _loguniform(rng, 1e-4, 1e-1)
        steps = np.exp(rng.uniform(math.log(1.5 * tol), math.log(50 * tol), k))
        level = float(rng.uniform(2.0, 10.0))
        losses = [float(x) for x in level + np.concatenate([[0.0], np.cumsum(steps)])[::-1]]
        change = (i // 6) % 5
        if k >= 1 and change == 1:
            losses[-1] = losses[-2] - 0.5 * tol
        if k >= 1 and change == 2:
            losses[-1] = losses[-2] + 3.0 * tol
        if k >= 1 and change in (3, 4):
            losses[-1] = losses[-2] + (tol if change == 4 else -tol)
            tol = abs(losses[-1] - losses[-2])  # exactly the change: not below tol
        calls.append(([losses], {"tol": tol, "max_iters": max_iters}))
    return calls


def _should_stop_cases(rng, hidden: bool) -> list[Case]:
    calls = _stopping_calls(rng, 60 if hidden else 30)
    names = tuple(f"should_stop({a[0]}, tol={k['tol']!r}, "
                  f"max_iters={k['max_iters']})" for a, k in calls)
    task = CallTask("should_stop", calls)
    return [Case(f"{len(calls)} loss histories", task, FLOAT64, labels=(names,))]


def _schedule_cases(rng, hidden: bool) -> list[Case]:
    settings = [(0.1, 5, 20, 0.0), (1.0, 3, 10, 0.05)] if not hidden else [
        (_loguniform(rng, 1e-3, 1.0), int(W), int(W + rng.integers(2, 40)),
         float(rng.choice([0.0, 1e-4, 1e-3])))
        for W in rng.integers(1, 20, 5)] + [(0.5, 0, 12, 0.01)]
    cases = []
    for base_lr, W, T, eta_min in settings:
        ts = list(range(T + 4))
        kwargs = {"base_lr": base_lr, "warmup_steps": W, "total_steps": T, "eta_min": eta_min}
        task = CallTask("warmup_cosine_lr", [([t], kwargs) for t in ts])
        label = f"base_lr = {base_lr:.4g}, warmup_steps = {W}, total_steps = {T}, " \
                f"eta_min = {eta_min:g}"
        cases.append(Case(label, task, Tolerance(1e-9, 1e-12),
                          labels=(tuple(f"t = {t}" for t in ts),)))
    return cases


_ACTIVATION_SHAPES = [(6,), (3, 4), (2, 3, 4)]
#: Inputs where formulas break: exp overflows beyond about 709 (float64) and 88 (float32),
#: clipping to +-6, +-10 or +-20 changes sigmoid's value, tanh by its exponential formula
#: gives inf / inf = nan.
_LARGE_INPUTS = (15.0, 25.0, 40.0, 100.0, 750.0, 1e3, 1e4, 1e6)


def _activation_cases(function: str) -> Callable:
    """Cases for an elementwise layer ``f(x, grad_out) -> (y, grad_x)``: 3 visible, 6 hidden.

    ``x`` has rank 1, 2 and 3 in turn; each holds a few exact zeros (where ReLU's
    gradient is decided), ordinary values up to about 6 in size, and large ones
    of both signs (:data:`_LARGE_INPUTS`, where exp overflows and clipping shows);
    one visible and two hidden cases are float32.
    """

    def make(rng, hidden: bool) -> list[Case]:
        n = 6 if hidden else 3
        cases = []
        for i in range(n):
            rank = i % 3 + 1
            shape = (tuple(int(k) for k in rng.integers(2, 5, rank)) if rank > 1 else
                     (int(rng.integers(6, 13)),)) if hidden else _ACTIVATION_SHAPES[i]
            dtype = np.float32 if i in ((1, 4) if hidden else (2,)) else np.float64
            calls, largest = [], 0.0
            for _ in range(2):  # two calls: a buffer reused across calls shows
                x = (rng.uniform(0.5, 3.0) * rng.standard_normal(shape)).astype(dtype)
                where = rng.permutation(x.size)
                n_zero, n_large = max(1, x.size // 5), max(2, x.size // 3)
                x.flat[where[:n_zero]] = 0.0
                large = rng.choice(_LARGE_INPUTS, n_large) * rng.choice([-1.0, 1.0], n_large)
                x.flat[where[n_zero:n_zero + n_large]] = large
                largest = max(largest, float(np.abs(large).max()))
                calls.append(([x, rng.standard_normal(shape).astype(dtype)], {}))
            task = CallTask(function, calls)
            label = (f"x of shape {shape}, {np.dtype(dtype).name}, with exact zeros and "
                     f"large values up to {largest:g} in size; two calls")
            cases.append(Case(label, task, FLOAT32 if dtype == np.float32 else FLOAT64,
                              labels=(tuple(f"call {j + 1}: {function}(x, grad_out)"
                                            for j in range(2)), ("y", "grad_x")),
                              annotate=_where_in_x))
        return cases

    return make


def _where_in_x(task: CallTask, expected, got) -> str | None:
    """Which input the first differing element of an elementwise layer belongs to."""
    for (args, _), e_call, g_call in zip(task.calls, expected, got):
        x = args[0]
        tol = FLOAT32 if x.dtype == np.float32 else FLOAT64
        for e, g in zip(e_call, g_call if isinstance(g_call, list) else []):
            if not isinstance(g, np.ndarray) or g.shape != x.shape:
                return None
            bad = ~close_mask(e.astype(np.float64), g.astype(np.float64), tol)
            if bad.any():
                value = float(x.flat[int(np.flatnonzero(bad)[0])])
                if value == 0.0:
                    return "There x = 0 exactly: what does your formula give at x = 0?"
                if abs(value) > 10:
                    return (f"There x = {value:g}, a large input: does your formula overflow "
                            "(exp of a large number is inf, and inf / inf is nan) or clip x?")
                return f"There x = {value:.6g}."
    return None


def _cross_entropy_cases(rng, hidden: bool) -> list[Case]:
    """Logits (N, C) with N >= 2; in every other case one row is shifted by about +-800
    (exp overflows there unless the row's maximum is subtracted first)."""
    sizes = [(4, 3), (3, 5), (2, 4)] if not hidden else [
        (int(n), int(c)) for n, c in zip(rng.integers(2, 17, 6), rng.integers(2, 11, 6))]
    cases = []
    for i, (n, c) in enumerate(sizes):
        dtype = np.float32 if i == (2 if hidden else 1) else np.float64
        logits = rng.uniform(0.5, 4.0) * rng.standard_normal((n, c))
        large = i % 2 == 0
        if large:
            logits[int(rng.integers(n))] += rng.choice([-1.0, 1.0]) * rng.uniform(700, 900)
        targets = rng.integers(c, size=n)
        task = CallTask("softmax_cross_entropy", [([logits.astype(dtype), targets], {})])
        label = (f"N = {n} samples, C = {c} classes, {np.dtype(dtype).name}"
                 + (", one row of very large logits" if large else ""))
        cases.append(Case(label, task, FLOAT32 if dtype == np.float32 else FLOAT64,
                          labels=(("softmax_cross_entropy(logits, targets)",),
                                  ("the loss", "the gradient"))))
    return cases


def _weight_shapes(rng, n: int, largest: int = 300) -> list[tuple[int, ...]]:
    """Dense (out, in) and convolutional (out, in, *kernel) shapes, fan-in != fan-out."""
    shapes = []
    while len(shapes) < n:
        kernel = tuple(int(k) for k in rng.integers(1, 6, len(shapes) % 4))
        out, inp = (int(k) for k in rng.integers(1, largest, 2))
        if out != inp:
            shapes.append((out, inp, *kernel))
    return shapes


def _scale_calls(rng, n: int, with_mode: bool) -> list[tuple[list, dict]]:
    calls = []
    for i, shape in enumerate(_weight_shapes(rng, n)):
        gain = (1.0, math.sqrt(2.0), 5.0 / 3.0, float(rng.uniform(0.5, 3.0)))[i % 4]
        kwargs = {"gain": gain, "distribution": ("uniform", "normal")[i % 2]}
        if with_mode:
            kwargs["mode"] = ("fan_in", "fan_in", "fan_out", "fan_out")[(i // 2) % 4]
        calls.append(([shape], kwargs))
    return calls


def _call_names(function: str, calls) -> tuple[str, ...]:
    def show(v):
        return f"{v:.4g}" if isinstance(v, float) else repr(v)

    return tuple(f"{function}(" + ", ".join([*map(show, a), *(
        f"{k}={show(v)}" for k, v in kw.items() if k != "rng")]) + ")" for a, kw in calls)


def _init_cases(function: str, make_calls: Callable, stand_ins=()) -> Callable:
    """One visible case of 8 calls, three hidden cases of 12 calls each."""
    note = "; the reference fans stands in for yours" if stand_ins else ""

    def make(rng, hidden: bool) -> list[Case]:
        cases = []
        for _ in range(3 if hidden else 1):
            calls = make_calls(rng, 12 if hidden else 8)
            cases.append(Case(f"{len(calls)} weight shapes, dense and convolutional{note}",
                              CallTask(function, calls, stand_ins=list(stand_ins)), FLOAT64,
                              labels=(_call_names(function, calls),)))
        return cases

    return make


def _sample_calls(rng, n: int) -> list[tuple[list, dict]]:
    return [([shape, float(rng.uniform(0.01, 0.5))],
             {"distribution": ("uniform", "normal")[i % 2], "rng": Rng(int(rng.integers(2**31)))})
            for i, shape in enumerate(_weight_shapes(rng, n, largest=12))]


def _batch(rng, dtype):
    n, c = int(rng.integers(2, 17)), int(rng.integers(1, 6))
    x = rng.uniform(-2, 2, c) + rng.uniform(0.3, 3.0, c) * rng.standard_normal((n, c))
    gamma, beta = rng.uniform(0.5, 2.0, c), rng.standard_normal(c)
    return [a.astype(dtype) for a in (x, gamma, beta)]


def _calls_case(function: str, calls: list, names: tuple, dtype, what: str,
                *levels) -> Case:
    """One case of several calls whose arrays share ``dtype``, compared with its tolerance;
    ``names`` names each call, ``levels`` the items of what a call returns (see
    :func:`~dlopt.grading.compare.first_mismatch`'s ``labels``)."""
    return Case(f"{len(calls)} {what}, {np.dtype(dtype).name}", CallTask(function, calls),
                FLOAT32 if dtype == np.float32 else FLOAT64, labels=(names, *levels))


def _batchnorm_forward_cases(rng, hidden: bool) -> list[Case]:
    """Calls in training and evaluation mode on (N, C) batches with random running statistics;
    momentum away from 0.5 (so the direction of the running average shows), eps up to 0.1."""
    cases = []
    for i in range(3 if hidden else 2):
        dtype = np.float32 if i == (1 if hidden else 1) else np.float64
        calls = []
        for k in range(6 if hidden else 4):
            x, gamma, beta = _batch(rng, dtype)
            c = x.shape[1]
            running = [rng.standard_normal(c).astype(dtype),
                       rng.uniform(0.2, 3.0, c).astype(dtype)]
            kwargs = {"training": k % 2 == 0, "momentum": float(rng.uniform(0.05, 0.3)),
                      "eps": (1e-5, 1e-3, 0.1)[k % 3]}
            calls.append(([x, gamma, beta, *running], kwargs))
        names = tuple(f"call {j + 1}: x of shape {a[0].shape}, training={kw['training']}, "
                      f"momentum={kw['momentum']:.3g}, eps={kw['eps']:g}"
                      for j, (a, kw) in enumerate(calls))
        cases.append(_calls_case("batchnorm_forward", calls, names, dtype, "batches",
                                 ("y", "running_mean", "running_var")))
    return cases


def _batchnorm_backward_cases(rng, hidden: bool) -> list[Case]:
    cases = []
    for i in range(3 if hidden else 2):
        dtype = np.float32 if i == 1 else np.float64
        calls = []
        for k in range(4 if hidden else 3):
            x, gamma, _ = _batch(rng, dtype)
            grad_out = rng.standard_normal(x.shape).astype(dtype)
            calls.append(([grad_out, x, gamma], {"eps": (1e-5, 1e-3, 0.1)[k % 3]}))
        names = tuple(f"call {j + 1}: x of shape {a[1].shape}, eps={kw['eps']:g}"
                      for j, (a, kw) in enumerate(calls))
        cases.append(_calls_case("batchnorm_backward", calls, names, dtype, "batches",
                                 ("grad_x", "grad_gamma", "grad_beta")))
    return cases


def _dropout_cases(rng, hidden: bool) -> list[Case]:
    """Calls in training and evaluation mode; p from 0 to 0.8; one case in float32."""
    cases = []
    for i in range(4 if hidden else 2):
        dtype = np.float32 if i == 1 else np.float64
        calls = []
        for k in range(6 if hidden else 4):
            rank = (2, 1, 3)[k % 3]  # any shape: rank 1, 2 and 3
            shape = tuple(int(d) for d in rng.integers(2, 7, rank))
            x = rng.standard_normal(shape).astype(dtype)
            grad_out = rng.standard_normal(shape).astype(dtype)
            p = (0.5, 0.2, 0.8, 0.3, 0.0, 0.65)[k] if hidden else (0.5, 0.25, 0.5, 0.75)[k]
            kwargs = {"p": p, "training": k != 2, "rng": Rng(int(rng.integers(2**31)))}
            calls.append(([x, grad_out], kwargs))
        names = tuple(f"call {j + 1}: x of shape {a[0].shape}, p={kw['p']:g}, "
                      f"training={kw['training']}, rng=default_rng({kw['rng'].seed})"
                      for j, (a, kw) in enumerate(calls))
        cases.append(_calls_case("dropout_layer", calls, names, dtype, "calls",
                                 ("y", "grad_x")))
    return cases


def _decay_hyper(base: Callable) -> Callable:
    """``base``'s hyperparameters plus a weight decay; odd cases decoupled, even ones L2."""

    def draw(rng, i, grad_scale, eigen_max):
        return {**base(rng, i, grad_scale, eigen_max),
                "weight_decay": rng.uniform(0.1, 1.0) * grad_scale, "decoupled": i % 2 == 1}

    return draw


_GRID = 1 / 256  # losses and min_delta on this grid: every comparison below is exact


def _validation_curve(rng, epochs: int, min_delta: float) -> list[float]:
    """A noisy U-shaped validation curve with exact ties, near-misses of ``min_delta``,
    epochs exactly ``min_delta`` below the best so far (not an improvement: the test is
    strict) and epochs 1.5 ``min_delta`` below it (an improvement, which a relative
    ``min_delta`` misses: the losses are 2 or more).

    Values are multiples of 1/256, so ``best - min_delta`` is exact in floating point.
    """
    turn = rng.uniform(0.3, 0.7) * epochs
    t = np.arange(epochs)
    level = rng.uniform(2.0, 4.0)  # above 1: a relative min_delta differs from the absolute
    curve = level + 1.5 * np.exp(-t / rng.uniform(2, 6)) + 0.4 * ((t - turn) / epochs).clip(0) ** 2
    curve += 0.03 * rng.standard_normal(epochs)
    values = [round(float(v) / _GRID) * _GRID for v in curve]
    for e in range(1, epochs):
        draw = rng.random()
        if draw < 0.15:
            values[e] = min(values[:e])  # ties the best so far: not an improvement
        elif draw < 0.3 and min_delta > 0:
            values[e] = min(values[:e]) - 0.5 * min_delta  # better, but by less than min_delta
        elif draw < 0.4 and min_delta > 0:
            values[e] = min(values[:e]) - min_delta  # better by exactly min_delta: not enough
        elif draw < 0.5 and min_delta > 0:
            values[e] = min(values[:e]) - 1.5 * min_delta  # better by more: an improvement
    return values


def _early_stopping_cases(rng, hidden: bool) -> list[Case]:
    cases = []
    for _ in range(3 if hidden else 1):
        calls = []
        for k in range(12 if hidden else 8):
            epochs = int(rng.integers(6, 31))
            min_delta = (0.0, 2 * _GRID, 0.0, 8 * _GRID)[k % 4]
            losses = _validation_curve(rng, epochs, min_delta)
            shape = ((3,), (2, 3), (2, 1, 2))[k % 3]  # any shape
            weights = [rng.standard_normal(shape) for _ in range(epochs)]
            kwargs = {"patience": (1, 2, 3, 5)[(k // 2) % 4], "min_delta": min_delta}
            calls.append(([losses, weights], kwargs))
        names = tuple(f"call {j + 1}: {len(a[0])} epochs, val_losses={a[0]}, "
                      f"patience={kw['patience']}, min_delta={kw['min_delta']:g}"
                      for j, (a, kw) in enumerate(calls))
        cases.append(Case(f"{len(calls)} validation curves", CallTask("early_stopping", calls),
                          FLOAT64, labels=(names, ("stop_epoch", "best_epoch", "best_weights"))))
    return cases


def _trainable_layers_cases(rng, hidden: bool) -> list[Case]:
    settings = [(4, e, 1) for e in range(6)] + [(3, e, 2) for e in range(7)]
    if hidden:
        settings = [(int(n), int(e), int(every)) for n, e, every in zip(
            rng.integers(1, 9, 30), rng.integers(0, 20, 30), rng.integers(1, 4, 30))]
    calls = [([n, e], {"every": every}) for n, e, every in settings]
    return [Case(f"{len(calls)} calls", CallTask("trainable_layers", calls), FLOAT64,
                 labels=(_call_names("trainable_layers", calls), "layer"))]


def _frozen_step_cases(rng, hidden: bool) -> list[Case]:
    cases = []
    for i in range(4 if hidden else 2):
        dtype = np.float32 if i == 1 else np.float64
        calls = []
        for _ in range(4 if hidden else 3):
            n = int(rng.integers(2, 6))
            shapes = [tuple(int(k) for k in rng.integers(1, 6, int(rng.integers(1, 3))))
                      for _ in range(n)]
            weights = [rng.standard_normal(s).astype(dtype) for s in shapes]
            grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
            trainable = [bool(b) for b in rng.random(n) < 0.5]
            frozen, trained = rng.choice(n, 2, replace=False)
            trainable[int(frozen)], trainable[int(trained)] = False, True  # one of each at least
            kwargs = {"lr": float(rng.uniform(0.01, 0.2)),
                      "weight_decay": float(rng.uniform(0.1, 2.0))}
            calls.append(([weights, grads, trainable], kwargs))
        names = tuple(f"call {j + 1}: layer shapes {[w.shape for w in a[0]]}, trainable={a[2]}, "
                      f"lr={kw['lr']:.4g}, weight_decay={kw['weight_decay']:.4g}"
                      for j, (a, kw) in enumerate(calls))
        cases.append(_calls_case("frozen_sgd_step", calls, names, dtype, "networks",
                                 ("new_weights", "n_trained"), "layer"))
    return cases


def _lora_sizes(rng, n: int) -> list[tuple[int, int, int]]:
    """(d_out, d_in, r) with d_in != d_out and 1 <= r <= min(d_in, d_out); r > 1 in the first,
    so that alpha and alpha / r differ there."""
    sizes = []
    while len(sizes) < n:
        d_out, d_in = (int(k) for k in rng.integers(2, 12, 2))
        if d_out != d_in:
            sizes.append((d_out, d_in, int(rng.integers(1, min(d_out, d_in) + 1))))
    d_out, d_in, r = sizes[0]
    sizes[0] = (d_out, d_in, r if r > 1 else min(d_out, d_in))
    return sizes


def _lora_init_cases(rng, hidden: bool) -> list[Case]:
    calls = [([d_out, d_in, r], {"rng": Rng(int(rng.integers(2**31)))})
             for d_out, d_in, r in _lora_sizes(rng, 10 if hidden else 5)]
    names = tuple(f"lora_init({a[0]}, {a[1]}, {a[2]}, rng=default_rng({kw['rng'].seed}))"
                  for a, kw in calls)
    return [Case(f"{len(calls)} layers", CallTask("lora_init", calls), FLOAT64,
                 labels=(names, ("A", "B")))]


def _lora_arrays(rng, d_out, d_in, r, dtype):
    """W (d_out, d_in) and trained-looking factors: A (r, d_in) and a non-zero B (d_out, r)."""
    W = rng.standard_normal((d_out, d_in)) / math.sqrt(d_in)
    A = rng.uniform(-1, 1, (r, d_in)) / math.sqrt(d_in)
    B = 0.3 * rng.standard_normal((d_out, r))
    return [a.astype(dtype) for a in (W, A, B)]


def _lora_alpha(rng, k: int) -> float:
    return (1.0, 16.0, 4.0, float(rng.uniform(0.5, 8)))[k % 4]


def _lora_layer_cases(rng, hidden: bool) -> list[Case]:
    cases = []
    for i in range(3 if hidden else 2):
        dtype = np.float32 if i == 1 else np.float64
        calls = []
        for k, (d_out, d_in, r) in enumerate(_lora_sizes(rng, 4 if hidden else 3)):
            W, A, B = _lora_arrays(rng, d_out, d_in, r, dtype)
            n = int(rng.integers(1, 7))
            x = rng.standard_normal((n, d_in)).astype(dtype)
            grad_out = rng.standard_normal((n, d_out)).astype(dtype)
            calls.append(([x, W, A, B, grad_out], {"alpha": _lora_alpha(rng, k)}))
        names = tuple(f"call {j + 1}: x {a[0].shape}, W {a[1].shape}, r = {a[2].shape[0]}, "
                      f"alpha={kw['alpha']:.4g}" for j, (a, kw) in enumerate(calls))
        cases.append(_calls_case("lora_forward_backward", calls, names, dtype, "layers",
                                 ("y", "grad_x", "grad_A", "grad_B")))
    return cases


def _lora_merge_cases(rng, hidden: bool) -> list[Case]:
    calls = []
    for k, (d_out, d_in, r) in enumerate(_lora_sizes(rng, 10 if hidden else 5)):
        calls.append(([*_lora_arrays(rng, d_out, d_in, r, np.float64)],
                      {"alpha": _lora_alpha(rng, k)}))
    names = tuple(f"call {j + 1}: W {a[0].shape}, r = {a[1].shape[0]}, alpha={kw['alpha']:.4g}"
                  for j, (a, kw) in enumerate(calls))
    return [Case(f"{len(calls)} layers", CallTask("lora_merge", calls), FLOAT64,
                 labels=(names,))]


def _register(*exercises: Exercise) -> dict[str, Exercise]:
    return {e.name: e for e in exercises}


EXERCISES: dict[str, Exercise] = _register(
    Exercise("minibatches", "gradient_descent", _minibatch_cases),
    Exercise("sgd_epoch", "gradient_descent", _sgd_epoch_cases),
    Exercise("should_stop", "gradient_descent", _should_stop_cases),
    Exercise("momentum_step", "optimizers", _rule_cases("momentum_step", _momentum_hyper)),
    Exercise("nesterov_step", "optimizers", _rule_cases("nesterov_step", _momentum_hyper)),
    Exercise("rmsprop_step", "optimizers", _rule_cases("rmsprop_step", _rmsprop_hyper)),
    Exercise("adam_step", "optimizers", _rule_cases("adam_step", _adam_hyper)),
    Exercise("adamw_step", "optimizers", _rule_cases("adamw_step", _adamw_hyper)),
    Exercise("warmup_cosine_lr", "optimizers", _schedule_cases),
    Exercise("sigmoid_layer", "activations", _activation_cases("sigmoid_layer")),
    Exercise("tanh_layer", "activations", _activation_cases("tanh_layer")),
    Exercise("relu_layer", "activations", _activation_cases("relu_layer")),
    Exercise("softmax_cross_entropy", "activations", _cross_entropy_cases),
    Exercise("fans", "initialization", _init_cases("fans", lambda rng, n: [
        ([shape], {}) for shape in _weight_shapes(rng, n)])),
    Exercise("xavier_scale", "initialization", _init_cases(
        "xavier_scale", lambda rng, n: _scale_calls(rng, n, with_mode=False), ["fans"])),
    Exercise("kaiming_scale", "initialization", _init_cases(
        "kaiming_scale", lambda rng, n: _scale_calls(rng, n, with_mode=True), ["fans"])),
    Exercise("sample_weight", "initialization", _init_cases("sample_weight", _sample_calls)),
    Exercise("batchnorm_forward", "batch_norm", _batchnorm_forward_cases),
    Exercise("batchnorm_backward", "batch_norm", _batchnorm_backward_cases),
    Exercise("dropout_layer", "regularization", _dropout_cases),
    Exercise("sgd_weight_decay_step", "regularization",
             _rule_cases("sgd_weight_decay_step", _decay_hyper(_momentum_hyper))),
    Exercise("adam_weight_decay_step", "regularization",
             _rule_cases("adam_weight_decay_step", _decay_hyper(_adam_hyper))),
    Exercise("early_stopping", "regularization", _early_stopping_cases),
    Exercise("trainable_layers", "fine_tuning", _trainable_layers_cases),
    Exercise("frozen_sgd_step", "fine_tuning", _frozen_step_cases,
             may_modify=("weights",), may_alias=("weights",)),
    Exercise("lora_init", "fine_tuning", _lora_init_cases),
    Exercise("lora_forward_backward", "fine_tuning", _lora_layer_cases),
    Exercise("lora_merge", "fine_tuning", _lora_merge_cases),
)

BY_GRADE_ID: dict[str, Exercise] = {e.grade_id: e for e in EXERCISES.values()}
