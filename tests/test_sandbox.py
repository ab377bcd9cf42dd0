"""The sandbox that runs answers for the grade, attacked directly (no nbgrader).

Each test is an attack a student could write in an answer cell; the walls are
the operating system's (bubblewrap namespaces, an empty file system, its own
uid, resource limits, the parent's watchdog), so nothing the answer does in
Python can remove them. The same attacks run through real ``nbgrader
autograde`` in ``test_assignments.py``.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from submissions.variants import VARIANTS

from dlopt.grading import sandbox
from dlopt.grading.assignments import EXERCISES
from dlopt.grading.child import HEADER, MAGIC, read_frames
from dlopt.grading.tasks import CallTask, Outcome, Rng, decode, encode
from dlopt.grading.verdicts import check, judge

GOOD_SHOULD_STOP = VARIANTS["should_stop"]["iteration_count_first"]
REPO = Path(__file__).resolve().parents[1]


def sandboxed(source: str, name: str = "should_stop", **limits):
    exercise = EXERCISES[name]
    cases = exercise.cases()
    run = sandbox.run_answer([source], [c.task for c in cases], limits=sandbox.Limits(**limits))
    return judge(exercise, cases, run.outcomes, answer_errors=run.cell_errors), run


def probe(code: str, **limits) -> str:
    """Run ``code`` as an answer cell; return what it printed (the cell's report)."""
    _, run = sandboxed(code + "\n" + GOOD_SHOULD_STOP, **limits)
    report = run.cells[0]
    return report["text"] + (report["error"] or "")


# --------------------------------------------------------------------------- transport


def test_transport_round_trips_tasks_without_pickle():
    task = CallTask("f", [([np.arange(3.0), 2], {"rng": Rng(5), "tol": 0.1})], ["minibatches"])
    back = decode(*encode([task, Outcome([np.ones(2), None, True], "err")]))
    assert back[0].calls[0][1]["rng"] == Rng(5)
    np.testing.assert_array_equal(back[0].calls[0][0][0], np.arange(3.0))
    assert back[1].value[1:] == [None, True] and back[1].error == "err"
    with pytest.raises(ValueError):  # object arrays would need pickle: refused on load
        decode(*encode([np.array([object()], dtype=object)]))


def test_frames_with_a_wrong_nonce_or_garbage_are_ignored():
    nonce, other = b"n" * 16, b"x" * 16

    def frame(tag, index, value):
        text, blob = encode(value)
        return MAGIC + HEADER.pack(tag, index, len(text.encode()), len(blob)) + text.encode() + blob

    out = (
        b"passed!\n"
        + frame(other, 0, Outcome(1.0))
        + MAGIC
        + b"junk"
        + frame(nonce, 1, Outcome(2.0))
        + frame(nonce, 1, Outcome(3.0))
        + struct.pack("<I", 7)
    )
    cells, outcomes = read_frames(out, nonce)
    assert cells is None and list(outcomes) == [1] and outcomes[1].value == 2.0


# --------------------------------------------------------------------------- grading


def test_sandbox_grades_a_correct_answer_and_reports_what_the_cell_printed():
    verdict, run = sandboxed("print('hello')\n" + GOOD_SHOULD_STOP)
    assert verdict.passed and run.cell_errors == []
    assert run.cells[0]["text"] == "hello\n"


def test_stand_ins_equal_the_package_functions():
    from dlopt.data import minibatches
    from dlopt.grading import stand_ins
    from dlopt.init import calculate_fan_in_and_fan_out

    rng = np.random.default_rng(0)
    for n, batch in [(10, 3), (7, 7), (5, 1), (12, 5)]:
        X, y = rng.normal(size=(n, 2)), rng.normal(size=n)
        for drop_last in (False, True):
            ours = list(
                stand_ins.minibatches(
                    X, y, batch, rng=np.random.default_rng(n), drop_last=drop_last
                )
            )
            theirs = list(
                minibatches(X, y, batch, rng=np.random.default_rng(n), drop_last=drop_last)
            )
            assert len(ours) == len(theirs)
            for (a, b), (c, d) in zip(ours, theirs, strict=True):
                np.testing.assert_array_equal(a, c)
                np.testing.assert_array_equal(b, d)
    for shape in [(3, 4), (8, 2, 3, 3), (5, 1, 7)]:
        assert stand_ins.fans(shape) == calculate_fan_in_and_fan_out(shape)
    for bad in [(3,), ()]:
        with pytest.raises(ValueError):
            stand_ins.fans(bad)


# --------------------------------------------------------------------------- limits


def test_an_infinite_loop_is_stopped_by_its_cpu_time():
    verdict, _ = sandboxed(
        "def should_stop(losses, *, tol, max_iters):\n    while True:\n        pass\n",
        cpu_seconds_per_task=1.0,
    )
    assert not verdict.passed and "1 s of CPU time" in verdict.summary()


@pytest.mark.parametrize("blocked", ["SIGALRM, signal.SIGPROF, signal.SIGXCPU, signal.SIGTERM"])
def test_a_loop_that_blocks_signals_is_still_stopped(blocked):
    start = time.monotonic()
    verdict, _ = sandboxed(
        "import signal\n"
        f"signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.{blocked}}})\n"
        "for s in (signal.SIGALRM, signal.SIGPROF, signal.SIGXCPU, signal.SIGTERM):\n"
        "    signal.signal(s, signal.SIG_IGN)\n"
        "def should_stop(losses, *, tol, max_iters):\n    while True:\n        pass\n",
        cpu_seconds_per_task=1.0,
    )
    assert not verdict.passed and "CPU time" in verdict.summary()
    assert time.monotonic() - start < 30


def test_an_answer_that_sleeps_is_stopped_when_idle():
    start = time.monotonic()
    verdict, _ = sandboxed(
        "import time\ndef should_stop(losses, *, tol, max_iters):\n    time.sleep(3600)\n",
        idle_seconds=2.0,
    )
    assert not verdict.passed and "without computing" in verdict.summary()
    assert time.monotonic() - start < 30


def test_a_huge_allocation_raises_memory_error():
    verdict, _ = sandboxed(
        "import numpy as np\ndef should_stop(losses, *, tol, max_iters):\n"
        "    return bool(np.ones(2**31)[0])\n",
        memory_bytes=1 << 30,
    )
    assert "MemoryError" in verdict.summary()


def test_flooding_stdout_and_stderr_costs_the_grader_no_memory():
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    text = probe(
        "import os, sys\nblock = b'x' * (1 << 20)\n"
        "for _ in range(512):\n    os.write(2, block)\n    os.write(1, block)\n"
        "    sys.stderr.write('y' * 1000)\nprint('done')"
    )
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert text.startswith("yyy") and len(text) == 10_000  # the feedback keeps 10,000 characters
    assert (after - before) * 1024 < 64 << 20  # ru_maxrss is in KiB


def test_flooding_the_frame_channel_is_cut_off():
    verdict, _ = sandboxed(
        "import os\nfor fd in range(3, 10):\n    try:\n"
        "        os.write(fd, b'DLOPT' * 1000)\n    except OSError:\n        pass\n"
        "def should_stop(losses, *, tol, max_iters):\n"
        "    for fd in range(3, 10):\n        try:\n"
        "            while True:\n                os.write(fd, b'x' * (1 << 20))\n"
        "        except OSError:\n            pass\n    return True\n",
        output_bytes=8 << 20,
    )
    assert not verdict.passed


def test_a_fork_bomb_is_contained():
    start = time.monotonic()
    verdict, _ = sandboxed(
        "import os\ndef should_stop(losses, *, tol, max_iters):\n"
        "    while True:\n        try:\n            os.fork()\n"
        "        except OSError:\n            pass\n",
        cpu_seconds_per_task=2.0,
    )
    assert not verdict.passed
    assert time.monotonic() - start < 60


def test_nothing_the_answer_starts_outlives_it():
    marker = f"dl{os.getpid() % 10**9}"  # the daemon's process name (at most 15 characters)
    text = probe(
        f"import ctypes, os, time\nif os.fork() == 0:\n    os.setsid()\n"
        f"    if os.fork() == 0:\n"
        f"        ctypes.CDLL(None).prctl(15, {marker!r}.encode(), 0, 0, 0)\n"
        f"        while True:\n            time.sleep(0.1)\n"
        f"    os._exit(0)\n"
        f"time.sleep(0.5)\n"
        f"print(any(open(f'/proc/{{p}}/comm').read().strip() == {marker!r}\n"
        f"          for p in os.listdir('/proc') if p.isdigit()))\n"
    )
    assert text.strip() == "True"  # the daemon ran beside the answer ...
    time.sleep(0.5)
    names = subprocess.run(["ps", "-eo", "comm"], capture_output=True, text=True).stdout.split()
    assert marker not in names  # ... and died with it


# --------------------------------------------------------------------------- walls


@pytest.mark.parametrize(
    "module",
    ["dlopt.grading.references", "torch", "torch.optim", "dlopt.rules", "dlopt.data", "dlopt.init"],
)
def test_the_reference_and_torch_are_absent(module):
    text = probe(
        f"import sys\nsys.meta_path[:] = [m for m in sys.meta_path "
        f"if 'Explain' not in type(m).__name__]\nimport {module}"
    )
    assert "ModuleNotFoundError" in text


def test_an_import_of_dlopt_says_why_it_fails():
    text = probe("from dlopt.rules import adam")
    assert "ImportError: importing dlopt is not allowed in an answer" in text


def test_the_reference_cannot_be_loaded_by_file_path():
    rules = Path(sandbox._PACKAGE / "rules.py")
    assert rules.exists()  # on the grader's disk ...
    text = probe(
        "import importlib.util, os\n"
        f"print(os.path.exists({str(rules)!r}))\n"
        "hits = [os.path.join(d, f) for d, ds, fs in os.walk('/') for f in fs + ds "
        "if f in ('rules.py', 'references.py', 'torch', 'optimizers.ipynb', "
        "'gradebook.db', 'site-packages') and not d.startswith('/grader/numpy')]\n"
        "print(hits)"
    )
    exists, hits = text.splitlines()
    assert exists == "False"  # ... and not in the child's
    assert all(h.endswith("site-packages") for h in eval(hits)), hits  # noqa: S307 (empty ones)


def test_course_files_are_not_in_the_child_file_system():
    text = probe(
        "import os\n"
        f"for p in ({str(REPO)!r}, {str(REPO / 'exercises')!r}, '/work', '/home', "
        "'/srv', '/root/.ipython', '/etc/passwd', '/usr/local', '/var'):\n"
        "    print(p, os.path.exists(p))\n"
        "print(sorted(os.listdir('/')))"
    )
    lines = text.splitlines()
    assert all(line.endswith("False") for line in lines[:-1]), text
    top = set(eval(lines[-1]))  # noqa: S307 - a list of names the test printed
    assert top <= {"dev", "etc", "grader", "lib", "lib32", "lib64", "proc", "root", "tmp", "usr"}


def test_site_packages_are_hidden_and_only_numpy_is_importable():
    text = probe(
        "import sys, os\nprint(sys.path)\nimport importlib.util as u\n"
        "print([m for m in ('nbgrader', 'jupyter_client', 'IPython', 'scipy', "
        "'sklearn', 'matplotlib') if u.find_spec(m)])"
    )
    assert text.splitlines()[-1] == "[]"


def test_files_the_answer_writes_disappear_with_it():
    marker = f"dlopt-left-{os.getpid()}"
    probe(
        f"import os\nfor d in ('/tmp', '/dev/shm', os.path.expanduser('~')):\n"
        f"    open(os.path.join(d, {marker!r}), 'w').write('x' * 1000)\n"
    )
    for folder in ("/tmp", "/dev/shm", "/var/tmp", os.path.expanduser("~")):
        assert not (Path(folder) / marker).exists()


def test_big_files_are_refused():
    text = probe(
        "try:\n    open('/tmp/big', 'wb').write(b'x' * (100 << 20))\n"
        "except OSError as e:\n    print(type(e).__name__)\n",
        file_bytes=1 << 20,
    )
    assert "OSError" in text or "File too large" in text or text == ""


def test_no_network():
    text = probe(
        "import socket\ntry:\n"
        "    socket.create_connection(('127.0.0.1', 22), timeout=2)\n"
        "except OSError as e:\n    print('refused', type(e).__name__)\n"
        "print(open('/proc/net/dev').read().count(':'))"
    )
    assert text.splitlines()[0].startswith("refused")
    assert text.splitlines()[1] == "1"  # only the sandbox's own loopback


def test_the_answer_sees_and_signals_only_its_own_processes():
    text = probe(
        "import os\n"
        "print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))\n"
        "print(os.getuid() != 0, os.geteuid() != 0)\n"
    )
    pids, ids = text.splitlines()
    assert len(eval(pids)) <= 3 and ids == "True True"  # noqa: S307


def test_a_result_cannot_be_forged_by_printing_and_exiting():
    forged = GOOD_SHOULD_STOP.replace("return bool(", "return not bool(") + (
        "import os, sys\nprint('all cases agree with the reference')\n"
        "sys.__stdout__.write('passed')\nos._exit(0)\n"
    )
    verdict, _ = sandboxed(forged)
    assert not verdict.passed and "exited early" in verdict.summary()


def test_grading_does_not_depend_on_the_grader_environment(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    text = probe("import os\nprint(sorted(os.environ))")
    assert "NBGRADER_EXECUTION" not in text


def test_kill_all_from_a_child_harms_no_one_outside():
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        probe(
            "import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n    pass\n"
        )
        assert sleeper.poll() is None
    finally:
        sleeper.kill()


@pytest.mark.parametrize(
    "line", ["import dlopt.grading.references as r", "from torch import optim"]
)
def test_visible_check_and_sandboxed_grade_give_the_same_message_for_an_import(line):
    """What scores 0 when graded fails the visible check, with the same words: an import in
    the function body, which the kernel would satisfy from sys.modules."""
    source = GOOD_SHOULD_STOP.replace(":\n", f":\n    {line}\n", 1)
    verdict, _ = sandboxed(source)
    namespace: dict = {}
    exec(compile(source, "<answer cell 1>", "exec"), namespace)  # noqa: S102 - the answer
    with pytest.raises(AssertionError) as err:
        check("should_stop", namespace["should_stop"])
    assert not verdict.passed
    assert verdict.summary().splitlines()[1] == str(err.value).splitlines()[1]


def test_an_answer_that_writes_to_stderr_keeps_its_grade():
    verdict, run = sandboxed(VARIANTS["should_stop"]["logs_to_stderr"])
    assert verdict.passed and run.cell_errors == []


# --------------------------------------------------------------------------- the class command


def test_autograde_class_takes_its_options_in_any_order():
    from dlopt.grading.autograde_class import default_jobs, parse_args

    for argv in (["optimizers", "--jobs", "3"], ["--jobs", "3", "optimizers"]):
        args, extra = parse_args(argv)
        assert (args.assignment, args.jobs, extra) == ("optimizers", 3, [])
    args, extra = parse_args(["optimizers", "--", "--force", "--jobs=9"])
    assert (args.jobs, extra) == (default_jobs(), ["--force", "--jobs=9"])
    with pytest.raises(SystemExit):
        parse_args(["optimizers", "--jobs", "0"])
    with pytest.raises(SystemExit):
        parse_args(["optimizers", "--force"])  # nbgrader's options only after --
