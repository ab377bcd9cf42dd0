r"""What a check asks of a function: tasks, how to run them, and how to ship them between processes.

A check never calls a student's function directly. It builds **tasks** (plain
data), runs each with :func:`run_task` on the student's function and on the
reference, and compares the two **outputs** (plain data too). The same
:func:`run_task` runs in the notebook's kernel (for the student's feedback)
and in the sandboxed grading process (for the grade), and a task and its
output cross the process boundary as JSON plus an ``.npz`` of arrays
(:func:`encode` / :func:`decode`; never pickle, which would run code).

Two kinds of task:

- :class:`RuleTask`: run an update rule ``rule(param, grad, state, **hyper)``
  for ``K`` steps on the quadratic problem
  :math:`L(\theta) = \tfrac12 \theta^\top A\theta - b^\top\theta`, with the
  gradient :math:`g_t = A\theta_{t-1} - b + \xi_t` (:math:`\xi_t` fixed noise)
  computed at the rule's own iterate. Output: the trajectory
  :math:`(\theta_0, \dots, \theta_K)`, shape (K+1, \*shape).
- :class:`CallTask`: call a function on a list of argument sets. Output: the
  list of return values (a generator is drawn to the end, a tuple becomes a
  list). An argument ``Rng(seed)`` becomes ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import signal
import threading
import traceback
import warnings
from dataclasses import dataclass, field

import numpy as np

MAX_ITEMS = 10_000  # a generator that yields more is reported, not drawn forever

#: Stand-ins a graded function may lean on: ``sgd_epoch`` calls the student's
#: ``minibatches``, and is graded with the reference one in its place, so that a
#: mistake costs points in one exercise only (likewise ``fans`` in the scales of
#: initialization). Name -> (module, attribute, fixed kwargs).
STAND_INS = {"minibatches": ("dlopt.grading.stand_ins", "minibatches", {"shuffle": True}),
             "fans": ("dlopt.grading.stand_ins", "fans", {})}


def load_stand_ins() -> dict:
    """The stand-in functions of :data:`STAND_INS`, imported now."""
    import functools
    import importlib

    return {name: functools.partial(getattr(importlib.import_module(mod), attr), **kwargs)
            for name, (mod, attr, kwargs) in STAND_INS.items()}


class TaskTimeout(BaseException):
    """Raised inside the student's code when a task runs out of time.

    A ``BaseException`` so that an ``except Exception`` in an answer does not swallow it.
    """


@dataclass(frozen=True)
class Rng:
    """Stands for ``numpy.random.default_rng(seed)`` in a call's arguments."""

    seed: int


@dataclass(frozen=True)
class Unsupported:
    """An output of a type that cannot be compared (its type name)."""

    type_name: str

    def __repr__(self) -> str:
        return f"<{self.type_name} object>"


@dataclass
class RuleTask:
    """``steps`` calls of ``function(param, grad, state, **hyper)`` on a quadratic problem.

    ``param0`` has any shape (its dtype is the dtype the rule sees), ``A`` is
    (d, d) and ``b`` is (d,) with d = ``param0.size``, ``noise`` is
    (steps, \\*param0.shape).
    """

    function: str
    param0: np.ndarray
    A: np.ndarray
    b: np.ndarray
    noise: np.ndarray
    hyper: dict = field(default_factory=dict)
    kind: str = "rule"

    @property
    def steps(self) -> int:
        return len(self.noise)


@dataclass
class CallTask:
    """``function(*args, **kwargs)`` for every ``(args, kwargs)`` in ``calls``.

    ``stand_ins`` lists global names the function uses that are replaced
    during the calls by the stand-ins of :data:`STAND_INS`.
    """

    function: str
    calls: list
    stand_ins: list = field(default_factory=list)
    kind: str = "call"


@dataclass
class Outcome:
    """A task's output, or the error that stopped it (then ``value`` holds what came before)."""

    value: object = None
    error: str | None = None


# --------------------------------------------------------------------------- running


def gradient(task: RuleTask, param: np.ndarray, t: int) -> np.ndarray:
    r""":math:`g_t = A\theta - b + \xi_t` in float64, returned in the param's dtype and shape."""
    g = task.A @ np.asarray(param, np.float64).ravel() - task.b
    return (g.reshape(task.param0.shape) + task.noise[t]).astype(task.param0.dtype)


def run_task(task, fn, *, stand_ins=None, time_limit: float | None = None) -> Outcome:
    """Run ``task`` with ``fn`` in this process and return its output as plain data.

    Warnings and floating-point errors are silenced (a warning printed to
    stderr would make nbgrader fail the test cell). ``time_limit`` (seconds)
    interrupts a function that does not return, with :class:`TaskTimeout`.
    """
    runner = _run_rule if task.kind == "rule" else _run_calls
    swap = _swapped_globals(fn, stand_ins or {}, task)
    with swap, _time_limit(time_limit), warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return runner(task, fn)


def _run_rule(task: RuleTask, fn) -> Outcome:
    param = task.param0.copy()
    state: dict = {}
    trajectory = [param.copy()]
    for t in range(task.steps):
        grad = gradient(task, param, t)
        try:
            returned = fn(param, grad, state, **task.hyper)
        except Exception as exc:  # the student's error, reported with its step
            return Outcome(np.stack(trajectory), f"{describe_exception(exc)} (at step {t + 1})")
        if t == 0 and isinstance(returned, np.ndarray) and returned is not param and \
                np.array_equal(param, task.param0):
            return Outcome(np.stack(trajectory + [param.copy()]),
                           "param was not updated in place: the function returned a new array "
                           "and left param unchanged; update it in place "
                           "(param -= ..., or param[...] = ...)")
        trajectory.append(np.array(param, copy=True))
    return Outcome(np.stack(trajectory))


def _run_calls(task: CallTask, fn) -> Outcome:
    results = []
    for i, (args, kwargs) in enumerate(task.calls):
        args = [_materialize_arg(a) for a in args]
        kwargs = {k: _materialize_arg(v) for k, v in kwargs.items()}
        try:
            results.append(plain(fn(*args, **kwargs)))
        except Exception as exc:
            where = f" (at call {i})" if len(task.calls) > 1 else ""
            return Outcome(results, f"{describe_exception(exc)}{where}")
    return Outcome(results)


def _materialize_arg(a):
    if isinstance(a, Rng):
        return np.random.default_rng(a.seed)
    if isinstance(a, np.ndarray):
        return a.copy()  # an answer that writes into its input must not change the task
    if isinstance(a, list):
        return list(a)
    return a


def plain(x):
    """``x`` as plain data: arrays, Python numbers and booleans, None, strings and lists.

    A generator or iterator is drawn (at most :data:`MAX_ITEMS` items), a
    tuple becomes a list, anything else becomes :class:`Unsupported`.
    """
    if x is None or isinstance(x, bool | str):
        return x
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, int | float | np.integer | np.floating):
        return float(x)
    if isinstance(x, np.ndarray):
        return np.array(x, copy=True) if x.dtype.kind in "biuf" else Unsupported(
            f"array of dtype {x.dtype}")
    if isinstance(x, list | tuple):
        return [plain(v) for v in x]
    if hasattr(x, "__next__") or hasattr(x, "gi_code"):
        items = list(itertools.islice(x, MAX_ITEMS + 1))
        if len(items) > MAX_ITEMS:
            raise RuntimeError(f"the iterator yielded more than {MAX_ITEMS} items")
        return [plain(v) for v in items]
    return Unsupported(type(x).__name__)


def describe_exception(exc: BaseException) -> str:
    """``"ValueError: message (line 7: the line)"``, naming the answer's last line involved."""
    text = f"{type(exc).__name__}: {exc}"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith("<")]
    if frames and frames[-1].line:
        text += f" (line {frames[-1].lineno}: {frames[-1].line.strip()})"
    return text


@contextlib.contextmanager
def _swapped_globals(fn, stand_ins: dict, task):
    """Temporarily replace globals of ``fn`` named in ``task.stand_ins``."""
    names = getattr(task, "stand_ins", []) or []
    namespace = getattr(fn, "__globals__", None)
    if not names or namespace is None:
        yield
        return
    missing = object()
    saved = {name: namespace.get(name, missing) for name in names}
    try:
        for name in names:
            namespace[name] = stand_ins[name]
        yield
    finally:
        for name, old in saved.items():
            if old is missing:
                namespace.pop(name, None)
            else:
                namespace[name] = old


@contextlib.contextmanager
def _time_limit(seconds: float | None):
    usable = seconds is not None and threading.current_thread() is threading.main_thread() \
        and hasattr(signal, "setitimer")
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        raise TaskTimeout(f"used more than {seconds:g} s of CPU time (an infinite loop?)")

    # CPU time (ITIMER_PROF), not wall time: the limit means the same on a busy machine
    previous = signal.signal(signal.SIGPROF, on_alarm)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


# --------------------------------------------------------------------------- transport


def encode(obj) -> tuple[str, bytes]:
    """``obj`` (tasks, outcomes, plain data) as JSON text plus ``.npz`` bytes of its arrays."""
    arrays: dict[str, np.ndarray] = {}
    structure = _enc(obj, arrays)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return json.dumps(structure), buffer.getvalue()


def decode(text: str, blob: bytes):
    """Inverse of :func:`encode`; loads arrays with ``allow_pickle=False``."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return _dec(json.loads(text), arrays)


_DATACLASSES = {"RuleTask": RuleTask, "CallTask": CallTask, "Outcome": Outcome}


def _enc(x, arrays):
    if x is None or isinstance(x, bool | str):
        return {"t": "atom", "v": x}
    if isinstance(x, int | float | np.integer | np.floating) and not isinstance(x, np.bool_):
        return {"t": "int" if isinstance(x, int | np.integer) else "num",
                "v": int(x) if isinstance(x, int | np.integer) else float(x)}
    if isinstance(x, np.bool_):
        return {"t": "atom", "v": bool(x)}
    if isinstance(x, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = x
        return {"t": "arr", "k": key}
    if isinstance(x, list | tuple):
        return {"t": "list", "v": [_enc(v, arrays) for v in x]}
    if isinstance(x, dict):
        return {"t": "dict", "v": {str(k): _enc(v, arrays) for k, v in x.items()}}
    if isinstance(x, Rng):
        return {"t": "rng", "v": int(x.seed)}
    if isinstance(x, Unsupported):
        return {"t": "unsupported", "v": x.type_name}
    name = type(x).__name__
    if name in _DATACLASSES:
        return {"t": name, "v": {k: _enc(v, arrays) for k, v in vars(x).items()}}
    return {"t": "unsupported", "v": name}


def _dec(node, arrays):
    t, v = node["t"], node.get("v")
    if t in ("atom", "num"):
        return v
    if t == "int":
        return int(v)
    if t == "arr":
        return arrays[node["k"]]
    if t == "list":
        return [_dec(x, arrays) for x in v]
    if t == "dict":
        return {k: _dec(x, arrays) for k, x in v.items()}
    if t == "rng":
        return Rng(int(v))
    if t == "unsupported":
        return Unsupported(str(v))
    if t in _DATACLASSES:
        fields = {k: _dec(x, arrays) for k, x in v.items()}
        if t == "CallTask":
            fields["calls"] = [(list(a), dict(k)) for a, k in fields["calls"]]
        return _DATACLASSES[t](**fields)
    raise ValueError(f"unknown node type {t!r}")
