r"""What a test asks of a function: tasks, how to run them, and how to ship them between processes.

A test never calls a student's function directly. It builds **tasks** (plain
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

Both runners enforce the contract every exercise states, call by call:

- arguments are never changed (except those a task lists in ``may_modify``,
  and ``param`` of an update rule, which must change in place); every call gets
  its own deep copies, so nothing a call does reaches the reference or the next call;
- returned arrays share no memory with the arguments (except ``may_alias``) nor
  with what earlier calls returned (a buffer reused across calls);
- an update rule gets its gradient in one array that the caller overwrites at
  every step (as a training loop's ``p.grad``), and a learning rate that may
  change from step to step (``lr_factors``).

A broken clause is the outcome's error, naming the argument ("your function
changed its argument `grad`"). :class:`Outcome` ``notes`` carry hints that
matter only if the values turn out wrong (the rule rebound ``param``, its state
keeps a reference to ``grad``).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import signal
import sys
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
STAND_INS = {
    "minibatches": ("dlopt.grading.stand_ins", "minibatches", {"shuffle": True}),
    "fans": ("dlopt.grading.stand_ins", "fans", {}),
}


def load_stand_ins() -> dict:
    """The stand-in functions of :data:`STAND_INS`, imported now."""
    import functools
    import importlib

    return {
        name: functools.partial(getattr(importlib.import_module(mod), attr), **kwargs)
        for name, (mod, attr, kwargs) in STAND_INS.items()
    }


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
    lr_factors: object = None  # None, or (steps,) factors: step t uses lr * lr_factors[t]

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
    arg_names: list = field(default_factory=list)  # names of the positional arguments
    may_modify: list = field(default_factory=list)  # arguments the function may change
    may_alias: list = field(default_factory=list)  # arguments an output may share memory with


@dataclass
class Outcome:
    """A task's output, or the error that stopped it (then ``value`` holds what came before)."""

    value: object = None
    error: str | None = None
    notes: list = field(default_factory=list)  # hints, shown only if the values are wrong


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


def lr_at(task: RuleTask, t: int) -> dict:
    """The hyperparameters of step ``t`` (from 0): ``lr`` times ``lr_factors[t]`` if given."""
    hyper = dict(task.hyper)
    if task.lr_factors is not None and "lr" in hyper:
        hyper["lr"] = float(hyper["lr"] * task.lr_factors[t])
    return hyper


REBOUND = "rebound"  # the note: the rule rebound its parameter name (param = ...)
KEPT_GRAD = "kept_grad"  # the note: the rule's state holds the caller's grad array


def _run_rule(task: RuleTask, fn) -> Outcome:
    param = task.param0.copy()
    grad = np.empty_like(param)  # one gradient array, overwritten at every step
    state: dict = {}
    trajectory = [param.copy()]
    notes: list[str] = []
    for t in range(task.steps):
        grad[...] = gradient(task, param, t)
        grad_before = grad.copy()
        watch = _RebindingWatch(fn)
        try:
            with watch:
                fn(param, grad, state, **lr_at(task, t))
        except Exception as exc:  # the student's error, reported with its step
            return Outcome(
                np.stack(trajectory), f"{describe_exception(exc)} (at step {t + 1})", notes
            )
        if not _same(grad_before, grad):
            return Outcome(
                np.stack(trajectory + [param.copy()]),
                f"your function changed its argument `grad` (at step {t + 1}): "
                "the contract says a rule reads grad and never writes to it "
                "(write g = grad + ..., not grad += ...)",
                notes,
            )
        if watch.rebound and not any(n.startswith(REBOUND) for n in notes):
            notes.append(f"{REBOUND} {t + 1} {watch.name}")
        if KEPT_GRAD not in notes and any(
            isinstance(v, np.ndarray) and np.shares_memory(v, grad) for v in _values(state)
        ):
            notes.append(KEPT_GRAD)
        trajectory.append(np.array(param, copy=True))
    return Outcome(np.stack(trajectory), None, notes)


def _values(state) -> list:
    """The values in a rule's state, one level into lists, tuples and dicts."""
    out = []
    for v in state.values() if isinstance(state, dict) else []:
        out += (
            list(v.values())
            if isinstance(v, dict)
            else list(v)
            if isinstance(v, list | tuple)
            else [v]
        )
    return out


class _RebindingWatch:
    """Records whether ``fn``'s first parameter still names the caller's object when it returns.

    ``param = param - lr * g`` rebinds a local name and leaves the caller's array as
    it was; the profiler sees the frame's locals at its ``return`` event.
    """

    def __init__(self, fn) -> None:
        self.code = getattr(fn, "__code__", None)
        self.name = self.code.co_varnames[0] if self.code and self.code.co_argcount else None
        self.rebound = False
        self._arg, self._depth, self._old = None, 0, None

    def _profile(self, frame, event, arg):
        if frame.f_code is not self.code:
            return
        if event == "call":
            self._depth += 1
            if self._depth == 1:
                self._arg = frame.f_locals.get(self.name)
        elif event == "return":
            if self._depth == 1 and frame.f_locals.get(self.name) is not self._arg:
                self.rebound = True
            self._depth -= 1

    def __enter__(self):
        self._on = False
        if self.name is not None:
            try:  # a hint only: where profiling is unavailable, the grade is the same
                self._old = sys.getprofile()
                sys.setprofile(self._profile)
                self._on = True
            except Exception:
                pass
        return self

    def __exit__(self, *exc):
        if self._on:
            sys.setprofile(self._old)
        self._arg = None
        return False


def _run_calls(task: CallTask, fn) -> Outcome:
    results = []
    earlier: list[np.ndarray] = []  # arrays returned by earlier calls
    for i, (args, kwargs) in enumerate(task.calls):
        where = f" (at call {i + 1})" if len(task.calls) > 1 else ""
        given_args = [_materialize_arg(a) for a in args]
        given_kwargs = {k: _materialize_arg(v) for k, v in kwargs.items()}
        try:
            raw = _drawn(fn(*given_args, **given_kwargs))
        except Exception as exc:
            return Outcome(results, f"{describe_exception(exc)}{where}")
        named = [(_arg_name(task, j), a, g) for j, (a, g) in enumerate(zip(args, given_args))]
        named += [(k, kwargs[k], given_kwargs[k]) for k in kwargs]
        for name, original, given in named:
            if name not in task.may_modify and not _same(original, given):
                return Outcome(
                    results,
                    f"your function changed its argument `{name}`{where}: "
                    f"the contract says {name} is read, never written; "
                    "compute into new arrays (y = x * m, not x *= m)",
                )
        outputs = list(_arrays_in(raw))
        for out in outputs:
            for name, _, given in named:
                if name in task.may_alias:
                    continue
                if any(np.shares_memory(out, a) for a in _arrays_in(given)):
                    return Outcome(
                        results,
                        f"your function returned an array that shares memory "
                        f"with its argument `{name}`{where}: the contract "
                        "says every returned array is new (return "
                        f"{name}.copy() or a computed array, not {name} "
                        "itself or a view of it)",
                    )
            if any(np.shares_memory(out, e) for e in earlier):
                return Outcome(
                    results,
                    f"your function returned an array that an earlier call "
                    f"also returned{where} (a buffer reused across calls): "
                    "the contract says every call returns new arrays, so "
                    "the caller's earlier results stay as they were",
                )
        earlier += outputs
        results.append(plain(raw))
    return Outcome(results)


def _arg_name(task: CallTask, j: int) -> str:
    return task.arg_names[j] if j < len(task.arg_names) else f"argument {j + 1}"


def _same(a, b) -> bool:
    """Whether ``b`` still equals the pristine ``a`` (arrays exactly, NaN equal to NaN)."""
    if isinstance(a, np.ndarray):
        return (
            isinstance(b, np.ndarray)
            and a.shape == b.shape
            and a.dtype == b.dtype
            and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
        )
    if isinstance(a, list | tuple):
        return (
            isinstance(b, list | tuple)
            and len(a) == len(b)
            and all(_same(x, y) for x, y in zip(a, b))
        )
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, Rng):
        return True  # a generator is meant to advance
    try:
        return bool(a == b)
    except Exception:
        return False


def _arrays_in(x):
    """The arrays in ``x``, through nested lists, tuples and dicts."""
    if isinstance(x, np.ndarray):
        yield x
    elif isinstance(x, list | tuple):
        for v in x:
            yield from _arrays_in(v)
    elif isinstance(x, dict):
        for v in x.values():
            yield from _arrays_in(v)


def _drawn(x):
    """A returned generator or iterator drawn into a list (at most :data:`MAX_ITEMS` items)."""
    if isinstance(x, np.ndarray | list | tuple | dict | str) or x is None:
        return x
    if hasattr(x, "__next__") or hasattr(x, "gi_code"):
        items = list(itertools.islice(x, MAX_ITEMS + 1))
        if len(items) > MAX_ITEMS:
            raise RuntimeError(f"the iterator yielded more than {MAX_ITEMS} items")
        return items
    return x


def _materialize_arg(a):
    """A fresh deep copy of a task's argument for one call (``Rng`` becomes a generator)."""
    if isinstance(a, Rng):
        return np.random.default_rng(a.seed)
    if isinstance(a, np.ndarray):
        return a.copy()  # an answer that writes into its input must not change the task
    if isinstance(a, list | tuple):
        return type(a)(_materialize_arg(v) for v in a)
    if isinstance(a, dict):
        return {k: _materialize_arg(v) for k, v in a.items()}
    return a


def plain(x):
    """``x`` as plain data: arrays, Python ints, floats and booleans, None, strings and lists.

    A generator or iterator is drawn (at most :data:`MAX_ITEMS` items), a
    tuple becomes a list, anything else becomes :class:`Unsupported`.
    """
    if x is None or isinstance(x, bool | str):
        return x
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, int | np.integer):
        return int(x)  # an int stays an int: where the reference returns one, a float is wrong
    if isinstance(x, float | np.floating):
        return float(x)
    if isinstance(x, np.ndarray):
        return (
            np.array(x, copy=True)
            if x.dtype.kind in "biuf"
            else Unsupported(f"array of dtype {x.dtype}")
        )
    if isinstance(x, list | tuple):
        return [plain(v) for v in x]
    if hasattr(x, "__next__") or hasattr(x, "gi_code"):
        return [plain(v) for v in _drawn(x)]
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
    usable = (
        seconds is not None
        and threading.current_thread() is threading.main_thread()
        and hasattr(signal, "setitimer")
    )
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
        return {
            "t": "int" if isinstance(x, int | np.integer) else "num",
            "v": int(x) if isinstance(x, int | np.integer) else float(x),
        }
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
