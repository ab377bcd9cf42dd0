r"""What every assignment module builds on: exercises, cases, catalogued mistakes.

- :class:`Exercise`: a graded function, its reference, how to draw its cases, and the
  contract clauses that differ from the default (``may_modify``, ``may_alias``);
- :class:`Case`: one problem (a :mod:`~dlopt.grading.tasks` task), its label and tolerance;
- :class:`Mistake`: a catalogued wrong answer, real code, named in the feedback;
- case builders shared by several assignments: update rules on random quadratics
  (:func:`_rule_cases`), calls of a function on arrays of one dtype (:func:`_calls_case`).

The assignments themselves live in :mod:`dlopt.grading.assignments`, one module each.
"""

from __future__ import annotations

import inspect
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from textwrap import dedent

import numpy as np

from dlopt.grading.compare import Tolerance
from dlopt.grading.tasks import CallTask, RuleTask

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
    reference: Callable | None = None  # the reference answer, same signature as the student's

    @property
    def grade_id(self) -> str:
        return f"test_{self.name}"

    @property
    def mistakes(self) -> list[Mistake]:
        """The catalogued wrong answers to this exercise (from its assignment's module)."""
        from dlopt.grading.assignments import mistakes_for  # the registry imports this module

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
        return [
            p.name
            for p in inspect.signature(self.reference).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]


def _loguniform(rng, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def quadratic_task(
    rng,
    function: str,
    *,
    shape,
    dtype,
    steps: int,
    hyper: dict,
    grad_scale: float = 1.0,
    noise: float = 0.3,
) -> RuleTask:
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
    hyper = ", ".join(
        f"{k}={v}" if isinstance(v, bool) else f"{k}={v:.4g}" for k, v in task.hyper.items()
    )
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
            task = quadratic_task(
                rng,
                function,
                shape=shape,
                dtype=dtype,
                steps=steps,
                hyper=hyper,
                grad_scale=grad_scale,
            )
            if i % 2 == 1:
                task.lr_factors = rng.uniform(0.25, 1.25, steps)
            cases.append(_rule_case(task))
        return cases

    return make


def _and_a_restart(make):
    """``make``'s cases and, hidden, one more right after the last: the same problem, shape and
    dtype from a new start. A rule that keeps its state anywhere but in ``state`` (a
    module-level buffer renewed only when the shape changes) carries the last run's state
    into it; consecutive cases otherwise never share a shape."""

    def cases(rng, hidden: bool) -> list[Case]:
        made = make(rng, hidden)
        if hidden:
            last = made[-1].task
            param0 = rng.standard_normal(last.param0.shape).astype(last.param0.dtype)
            task = RuleTask(last.function, param0, last.A, last.b, last.noise, dict(last.hyper))
            task.lr_factors = last.lr_factors
            case = _rule_case(task)
            case.label += "; the problem of the case before from a new start (a new, empty state)"
            made.append(case)
        return made

    return cases


def _call_names(function: str, calls) -> tuple[str, ...]:
    def show(v):
        return f"{v:.4g}" if isinstance(v, float) else repr(v)

    return tuple(
        f"{function}("
        + ", ".join([*map(show, a), *(f"{k}={show(v)}" for k, v in kw.items() if k != "rng")])
        + ")"
        for a, kw in calls
    )


def _calls_case(function: str, calls: list, names: tuple, dtype, what: str, *levels) -> Case:
    """One case of several calls whose arrays share ``dtype``, compared with its tolerance;
    ``names`` names each call, ``levels`` the items of what a call returns (see
    :func:`~dlopt.grading.compare.first_mismatch`'s ``labels``)."""
    return Case(
        f"{len(calls)} {what}, {np.dtype(dtype).name}",
        CallTask(function, calls),
        FLOAT32 if dtype == np.float32 else FLOAT64,
        labels=(names, *levels),
    )


@dataclass(frozen=True)
class Mistake:
    """A wrong answer to ``exercise``: ``source`` defines a function of that name."""

    exercise: str
    key: str
    description: str
    source: str

    def function(self, namespace: dict | None = None):
        """Compile ``source`` and return the function it defines (namespace: extra globals)."""
        scope = {"np": np, "math": math, "__name__": f"mistake_{self.key}"}
        scope.update(namespace or {})
        exec(compile(self.source, f"<mistake {self.key}>", "exec"), scope)
        return scope[self.exercise]


def _m(exercise: str, key: str, description: str, source: str) -> Mistake:
    return Mistake(exercise, key, description, dedent(source).strip() + "\n")
