"""Cheat attempts and malformed submissions, one submission each (the threat model).

Each :class:`Cheat` turns the solution notebook of an assignment into a
submission (``edit(nb)`` changes the notebook object; ``raw`` replaces the file
content altogether) and says which test cells it must score 0 on: ``zero`` a
set of grade ids, or ``ALL`` for every test cell. Every other test cell must
keep full marks (the attack must not cost an otherwise correct answer either,
except where the kernel is killed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dlopt.grading.mistakes import MISTAKES

ALL = "all"
WRONG_ADAM = next(m.source for m in MISTAKES if m.key == "adam_no_bias_correction")


def cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def set_source(grade_id, source):
    def edit(nb):
        cell(nb, grade_id).source = source

    return edit


def then(*edits):
    def edit(nb):
        for e in edits:
            e(nb)

    return edit


NUMPY_BLOCK = """
import numpy
import numpy.testing
numpy.allclose = lambda *a, **k: True
numpy.isclose = lambda a, b, *r, **k: numpy.ones(numpy.broadcast(a, b).shape, bool)
numpy.array_equal = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
numpy.testing.assert_array_almost_equal = lambda *a, **k: None
"""

HELPERS_BLOCK = """
import dlopt.grading
import dlopt.grading.verdicts
import dlopt.grading.compare
dlopt.grading.verdicts.check = lambda *a, **k: print("all cases agree")
dlopt.grading.check = dlopt.grading.verdicts.check
dlopt.grading.verdicts.judge = lambda ex, cases, *a, **k: dlopt.grading.verdicts.Verdict(
    ex.name, True, len(cases))
dlopt.grading.compare.first_mismatch = lambda *a, **k: None
"""

BUILTINS_BLOCK = """
import builtins
import types
_fake = types.ModuleType("dlopt.grading")
_fake.check = lambda *a, **k: None
_real_import = builtins.__import__
def _import(name, globals=None, locals=None, fromlist=(), level=0):
    if name.startswith("dlopt"):
        return _fake
    return _real_import(name, globals, locals, fromlist, level)
builtins.__import__ = _import
builtins.AssertionError = type("AssertionError", (Warning,), {})
"""

REBIND_NUMPY = WRONG_ADAM + NUMPY_BLOCK
REBIND_HELPERS = WRONG_ADAM + HELPERS_BLOCK
REBIND_BUILTINS = WRONG_ADAM + BUILTINS_BLOCK

CALLS_DLOPT = """
import numpy as np
from dlopt.rules import adam

def adam_step(param, grad, state, *, lr, beta1, beta2, eps):
    adam(param, grad, state, lr=lr, beta1=beta1, beta2=beta2, eps=eps)
"""

CALLS_TORCH = """
import numpy as np
import torch

def momentum_step(param, grad, state, *, lr, momentum):
    if "optimizer" not in state:
        state["tensor"] = torch.from_numpy(param)  # shares memory: param changes in place
        state["optimizer"] = torch.optim.SGD([state["tensor"]], lr=lr, momentum=momentum)
    state["tensor"].grad = torch.from_numpy(grad.copy())
    state["optimizer"].step()
"""

SHOWTRACEBACK_BLOCK = """
from IPython.core.interactiveshell import InteractiveShell
InteractiveShell.showtraceback = lambda *a, **k: None
get_ipython().showtraceback = lambda *a, **k: None
"""

SHOWTRACEBACK = WRONG_ADAM + SHOWTRACEBACK_BLOCK

INFINITE_LOOP = """
import numpy as np

def rmsprop_step(param, grad, state, *, lr, alpha, eps):
    while True:
        pass
"""

HUGE_ALLOCATION = """
import numpy as np

def adam_step(param, grad, state, *, lr, beta1, beta2, eps):
    scratch = np.ones(6 * 2**30 // 8)  # 6 GiB, more than the sandbox allows
    param -= lr * grad * scratch[0]
"""

OS_EXIT = """
import os
os._exit(0)
"""

TAMPER = """
import os
from pathlib import Path

report = []
here = Path.cwd().resolve()
for folder in [here, *here.parents]:
    for target in (folder / "gradebook.db", folder / "nbgrader_config.py"):
        if target.exists():
            try:
                target.write_bytes(b"overwritten by a submission")
                report.append(f"wrote {target}")
            except OSError as exc:
                report.append(f"{target}: {exc.strerror}")
    if (folder / "source").is_dir():
        try:
            (folder / "source" / "planted.py").write_text("print('planted')")
            report.append("planted a file in source/")
        except OSError as exc:
            report.append(f"source/: {exc.strerror}")
        break
print(report)
"""

ADDED_GRADED_CELL = {
    "cell_type": "code",
    "execution_count": None,
    "outputs": [],
    "source": "print('bonus')",
    "metadata": {
        "nbgrader": {
            "grade": True,
            "grade_id": "bonus",
            "locked": False,
            "points": 50,
            "schema_version": 3,
            "solution": False,
            "task": False,
        }
    },
}


def add_cell(nb):
    import nbformat

    nb.cells.insert(5, nbformat.from_dict(ADDED_GRADED_CELL))
    nb.cells.insert(6, nbformat.v4.new_code_cell("adam_step = lambda *a, **k: None"))


def delete_cell(grade_id):
    def edit(nb):
        nb.cells = [
            c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != grade_id
        ]

    return edit


def strip_metadata(nb):
    for c in nb.cells:
        c.metadata.pop("nbgrader", None)


@dataclass
class Cheat:
    name: str
    edit: object = None
    raw: str | None = None
    filename: str | None = None  # a different notebook name (renamed submission)
    zero: object = field(default_factory=set)
    released: bool = False  # start from the released notebook instead of the solution


CHEATS = [
    Cheat("rebind_numpy", set_source("adam_step", REBIND_NUMPY), zero={"test_adam_step"}),
    Cheat("rebind_helpers", set_source("adam_step", REBIND_HELPERS), zero={"test_adam_step"}),
    Cheat("rebind_builtins", set_source("adam_step", REBIND_BUILTINS), zero={"test_adam_step"}),
    Cheat("calls_dlopt", set_source("adam_step", CALLS_DLOPT), zero={"test_adam_step"}),
    Cheat(
        "calls_torch_optim", set_source("momentum_step", CALLS_TORCH), zero={"test_momentum_step"}
    ),
    Cheat(
        "replaces_showtraceback", set_source("adam_step", SHOWTRACEBACK), zero={"test_adam_step"}
    ),
    Cheat(
        "edits_test_cell",
        then(set_source("adam_step", WRONG_ADAM), set_source("test_adam_step", "print('passed')")),
        zero={"test_adam_step"},
    ),
    Cheat(
        "deletes_test_cell",
        then(set_source("adam_step", WRONG_ADAM), delete_cell("test_adam_step")),
        zero={"test_adam_step"},
    ),
    Cheat(
        "edits_locked_cell",
        then(
            set_source("adam_step", WRONG_ADAM),
            set_source("setup", "import numpy as np\n" + REBIND_HELPERS),
        ),
        zero={"test_adam_step"},
    ),
    # nbgrader rejects a notebook with a graded cell it does not know: no points at all
    Cheat("adds_graded_cell", add_cell, zero=ALL),
    Cheat("infinite_loop", set_source("rmsprop_step", INFINITE_LOOP), zero={"test_rmsprop_step"}),
    Cheat("huge_allocation", set_source("adam_step", HUGE_ALLOCATION), zero={"test_adam_step"}),
    Cheat("os_exit", set_source("adam_step", OS_EXIT + WRONG_ADAM), zero=ALL),
    Cheat(
        "tampers_with_gradebook",
        set_source("warmup_cosine_lr", TAMPER),
        zero={"test_warmup_cosine_lr"},
    ),
    Cheat("invalid_json", raw='{"cells": [ this is not JSON', zero=ALL),
    Cheat("wrong_nbformat", edit=lambda nb: nb.update(nbformat=5), zero=ALL),
    Cheat("missing_metadata", strip_metadata, zero=ALL, released=True),
    Cheat("renamed_notebook", filename="my_answers.ipynb", zero=ALL),
]


# --------------------------------------------------------------------------- every assignment

#: Attacks that work on any exercise: ``attack(nb, name, wrong)`` puts a catalogued wrong
#: answer ``wrong`` of exercise ``name`` into ``nb`` and tries to get it full marks.
ATTACKS = [
    lambda nb, name, wrong: set_source(name, wrong + NUMPY_BLOCK)(nb),
    lambda nb, name, wrong: set_source(name, f"from dlopt.grading.references import {name}\n")(nb),
    lambda nb, name, wrong: then(
        set_source(name, wrong), set_source(f"test_{name}", "print('passed')")
    )(nb),
    lambda nb, name, wrong: set_source(name, wrong + SHOWTRACEBACK_BLOCK)(nb),
    lambda nb, name, wrong: then(set_source(name, wrong), delete_cell(f"test_{name}"))(nb),
    lambda nb, name, wrong: set_source(name, wrong + HELPERS_BLOCK)(nb),
    lambda nb, name, wrong: set_source(name, wrong + BUILTINS_BLOCK)(nb),
]


def combined_attack(nb, exercises, *, offset: int = 0) -> None:
    """Attack every exercise of one notebook at once, each with a wrong answer and one of
    :data:`ATTACKS` (in turn, from ``offset``), so the threat model reaches every assignment
    at the cost of one submission each. Every test cell of the notebook must score 0."""
    for i, name in enumerate(exercises):
        wrong = next(m.source for m in MISTAKES if m.exercise == name)
        ATTACKS[(offset + i) % len(ATTACKS)](nb, name, wrong)


# --------------------------------------------------------------------------- attacks on grading

#: Attacks on the grading machinery rather than on one exercise. Each is an extra code cell
#: in the *released* notebook (every answer a stub that raises), so a submission scores
#: exactly what that garbage answer scores, 0 on every test cell, unless the attack works.
#: Each is graded as a submission of its own on every assignment (test_assignments.py).
GRADER_ATTACKS = {
    # a test cell whose check *returns a value* showed an execute_result, which nbgrader
    # scored before the trusted grader's error output
    "check_returns_a_value": """
import dlopt.grading, dlopt.grading.verdicts
dlopt.grading.check = dlopt.grading.verdicts.check = lambda *a, **k: 100
""",
    # an IPython hook that displays a value before every cell
    "pre_run_cell_hook": """
try:
    _ip = get_ipython()
    _ip.events.register("pre_run_cell", lambda *a: _ip.displayhook(100))
except NameError:
    pass
""",
    # remove whatever blocks imports, then use the references
    "removes_import_blocker": """
import sys
sys.meta_path[:] = [m for m in sys.meta_path if "dlopt" not in type(m).__module__]
for name in [m for m in sys.modules if m.startswith(("dlopt", "torch"))]:
    del sys.modules[name]
from dlopt.grading import references as _refs
globals().update({k: v for k, v in vars(_refs).items() if callable(v)})
""",
    # load the references from the grader's disk by path
    "loads_reference_by_path": """
import importlib.util, os
for _top in ("/", os.path.expanduser("~"), os.getcwd()):
    for _dir, _dirs, _files in os.walk(_top):
        if _dir.endswith(os.path.join("dlopt", "grading")) and "references.py" in _files:
            _path = os.path.join(_dir, "references.py")
            _spec = importlib.util.spec_from_file_location("_r", _path)
            _mod = importlib.util.module_from_spec(_spec)
            _spec.loader.exec_module(_mod)
            globals().update({k: v for k, v in vars(_mod).items() if callable(v)})
""",
    # run the instructor's solution cells, found on disk
    "runs_the_source_notebook": """
import json, os
for _dir, _dirs, _files in os.walk("/"):
    for _f in _files:
        if _f.endswith(".ipynb") and "source" in _dir.split(os.sep):
            try:
                _nb = json.load(open(os.path.join(_dir, _f)))
            except Exception:
                continue
            for _c in _nb.get("cells", []):
                if _c.get("cell_type") == "code" and "BEGIN SOLUTION" in "".join(_c["source"]):
                    try:
                        exec("".join(_c["source"]), globals())
                    except Exception:
                        pass
""",
    # copy a classmate's answers, found on disk
    "copies_classmates": """
import json, os
for _dir, _dirs, _files in os.walk("/"):
    if "submitted" in _dir.split(os.sep) or "autograded" in _dir.split(os.sep):
        for _f in _files:
            if _f.endswith(".ipynb"):
                try:
                    _nb = json.load(open(os.path.join(_dir, _f)))
                    for _c in _nb["cells"]:
                        if _c["cell_type"] == "code" and "def " in "".join(_c["source"]):
                            exec("".join(_c["source"]), globals())
                except Exception:
                    pass
""",
    # reach the grader's stand-ins (correct functions) through the garbage collector
    "stand_ins_through_gc": """
import gc
_wanted = {"minibatches": "minibatches", "fans": "fans", "calculate_fan_in_and_fan_out": "fans"}
for _obj in gc.get_objects():
    _name = getattr(_obj, "__name__", "") if callable(_obj) else ""
    if _name in _wanted and getattr(_obj, "__module__", "") not in ("__main__", None):
        globals()[_wanted[_name]] = _obj
""",
    # behave differently only while autograded
    "only_under_autograde": """
import os
if os.environ.get("NBGRADER_EXECUTION") == "autograde" or os.environ.get("DLOPT_SANDBOXED"):
    from dlopt.grading import references as _refs
    globals().update({k: v for k, v in vars(_refs).items() if callable(v)})
""",
    # find the course root, give itself extra credit and turn off the trusted grading
    "tampers_with_the_course": """
import os, sqlite3
for _dir, _dirs, _files in os.walk("/"):
    if "gradebook.db" in _files:
        try:
            with sqlite3.connect(os.path.join(_dir, "gradebook.db")) as _db:
                _db.execute("update grade set extra_credit = 100")
        except Exception:
            pass
    if "nbgrader_config.py" in _files:
        try:
            with open(os.path.join(_dir, "nbgrader_config.py"), "a") as _f:
                _f.write("\\nc.Autograde.autograde_preprocessors = []\\n")
        except Exception:
            pass
""",
    # leave a process behind that kills every process it can (other students' graders)
    "kills_other_gradings": """
import ctypes, os, signal, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        ctypes.CDLL(None).prctl(15, b"dlopt-killer", 0, 0, 0)  # its name, for the tests
        _end = time.time() + 120
        while time.time() < _end:
            for _p in os.listdir("/proc"):
                if _p.isdigit() and int(_p) != os.getpid():
                    try:
                        os.kill(int(_p), signal.SIGKILL)
                    except OSError:
                        pass
            time.sleep(0.2)
        os._exit(0)
    os._exit(0)
""",
    # block the signals that time limits use, then loop
    "blocks_signals_and_loops": """
import signal
for _s in (signal.SIGALRM, signal.SIGPROF, signal.SIGVTALRM, signal.SIGXCPU, signal.SIGTERM):
    signal.signal(_s, signal.SIG_IGN)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGPROF, signal.SIGXCPU})
while True:
    pass
""",
    # block the signals, then sleep
    "blocks_signals_and_sleeps": """
import signal, time
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGPROF, signal.SIGTERM})
time.sleep(100000)
""",
    # flood stderr and stdout
    "floods_its_pipes": """
import os, sys
_block = b"x" * (1 << 20)
for _ in range(512):
    for _fd in (1, 2):
        try:
            os.write(_fd, _block)
        except OSError:
            pass
""",
    # leave big files for later
    "leaves_big_files": """
import os
for _d in ("/tmp", "/dev/shm", "/var/tmp", os.path.expanduser("~")):
    try:
        with open(os.path.join(_d, "dlopt-attack-left-behind"), "wb") as _f:
            _f.write(b"x" * (48 << 20))
    except OSError:
        pass
""",
    # print something that looks like a verdict, and exit cleanly
    "prints_a_verdict_and_exits": """
import os, sys
print("Passed: all cases agree with the reference.")
sys.stdout.flush()
os._exit(0)
""",
    # a fork bomb
    "fork_bomb": """
import os
for _ in range(100000):
    try:
        os.fork()
    except OSError:
        break
""",
}


def with_attack(code: str):
    """An edit that inserts ``code`` as a code cell after the first answer cell."""

    def edit(nb):
        import nbformat

        first = next(
            i
            for i, c in enumerate(nb.cells)
            if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"
        )
        nb.cells.insert(first + 1, nbformat.v4.new_code_cell(code))

    return edit
