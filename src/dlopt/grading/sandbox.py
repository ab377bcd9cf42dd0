r"""Running untrusted answer code in a fresh, limited process and getting its outputs back as data.

The grading process (the parent) never runs a student's code. It starts a
child with :func:`run_answer`:

1. the child is a fresh ``python -I -S`` (no ``PYTHON*`` variables, no
   ``site``/``.pth`` processing, a path that holds only NumPy's and the
   package's folders) under resource limits (address space, CPU seconds,
   file size, number of processes) in a new session; when the parent runs as
   root it also drops to an unprivileged user (``setpriv``; it keeps only the
   capability to *read* files, so it can load Python from a private
   folder but cannot write anything it does not own);
2. the child reads its request (the answer's cells, the tasks and a nonce)
   from stdin, imports NumPy and the stand-ins it may need, then forgets
   every ``dlopt`` module and blocks importing ``dlopt`` and ``torch``, so an
   answer that calls the reference instead of implementing it fails;
3. it executes the cells (each with a time limit), then runs each task
   (:func:`dlopt.grading.tasks.run_task`, each with a time limit) and writes
   each outcome as a frame tagged with the nonce to a private copy of stdout
   (the answer's own prints go to ``/dev/null``);
4. the parent decodes the frames (JSON and ``.npz`` without pickle), and
   compares them with the reference *itself*: the child returns outputs, never a
   verdict, so printing "passed", ``os._exit(0)`` or rebinding anything in the
   child cannot earn points. A task whose frame never came (a crash,
   ``os._exit``, a kill by a limit) fails, and a new child runs the rest.

``python -m dlopt.grading.sandbox --memory BYTES -- CMD ...`` is the launcher
the sandboxed Jupyter kernel uses (see :mod:`dlopt.grading.nbgrader_plugin`):
it applies the same limits and privilege drop, then executes ``CMD``.
"""

from __future__ import annotations

import argparse
import builtins
import os
import pwd
import re
import resource
import secrets
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from importlib.abc import MetaPathFinder

from dlopt.grading.tasks import (
    Outcome,
    TaskTimeout,
    _time_limit,
    decode,
    describe_exception,
    encode,
    load_stand_ins,
    run_task,
)

BLOCKED_IMPORTS = ("dlopt", "torch")
SANDBOX_MARKER = "DLOPT_SANDBOXED"  # set in a sandboxed kernel's environment
_MAGIC = b"DLOPT\x01"
_HEADER = struct.Struct("<16siII")  # nonce, task index (-1: cell errors), JSON length, npz length
_MAX_OUTPUT = 256 << 20


@dataclass(frozen=True)
class Limits:
    """Resource limits of a sandboxed child (seconds are CPU or wall seconds as named)."""

    seconds_per_task: float = 5.0
    seconds_per_cell: float = 10.0
    cpu_seconds: int = 120
    memory_bytes: int = 2 << 30
    file_bytes: int = 16 << 20
    processes: int = 256


@dataclass
class AnswerRun:
    """What a child reported: errors raised by the answer's cells, and one outcome per task."""

    cell_errors: list[str] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)


# --------------------------------------------------------------------------- parent side


def sandbox_user() -> int:
    """The uid that sandboxed code runs as when grading as root: ``DLOPT_SANDBOX_UID`` or nobody."""
    if "DLOPT_SANDBOX_UID" in os.environ:
        return int(os.environ["DLOPT_SANDBOX_UID"])
    try:
        return pwd.getpwnam("nobody").pw_uid
    except KeyError:
        return 65534


def privilege_prefix() -> list[str]:
    """The command prefix that drops root privileges, or ``[]`` when not root.

    Keeps only ``CAP_DAC_READ_SEARCH`` (read any file: the interpreter may live
    in root's home), with ``no_new_privs`` so no set-uid program can regain more.
    """
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise RuntimeError("grading as root needs setpriv (util-linux) to drop privileges")
    uid = sandbox_user()
    caps = "-all,+dac_read_search"
    return [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
            f"--inh-caps={caps}", f"--ambient-caps={caps}", f"--bounding-set={caps}",
            "--no-new-privs"]


def apply_limits(limits: Limits) -> None:
    """Set this process's resource limits (called in the child before it executes anything)."""
    _set_limits(memory=limits.memory_bytes, processes=limits.processes)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))


def _set_limits(*, memory: int, processes: int) -> None:
    """Address space and no core files; a process count only for the sandbox user (as root).

    RLIMIT_NPROC counts every process of the real user: for a grader that is
    not root it would count the grader's own processes too.
    """
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if os.geteuid() == 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))


def private_directory() -> str:
    """A fresh temporary folder the sandbox user owns (it is the child's HOME and cwd)."""
    path = tempfile.mkdtemp(prefix="dlopt-sandbox-")
    if os.geteuid() == 0:
        os.chown(path, sandbox_user(), sandbox_user())
    return path


def sandbox_env(home: str) -> dict[str, str]:
    """A minimal environment: no PYTHON* variables, one BLAS thread, a private HOME."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "LANG": "C.UTF-8",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _child_command() -> list[str]:
    import numpy

    import dlopt

    paths = [os.path.dirname(os.path.dirname(numpy.__file__)),
             os.path.dirname(os.path.dirname(dlopt.__file__))]
    bootstrap = (f"import sys; sys.path[:0] = {paths!r}; sys.dont_write_bytecode = True; "
                 "from dlopt.grading.sandbox import child_main; child_main()")
    return [*privilege_prefix(), sys.executable, "-I", "-S", "-c", bootstrap]


def run_answer(cells: list[str], tasks: list, *, limits: Limits = Limits(),
               groups: list | None = None) -> AnswerRun:
    """Execute the answer ``cells`` in a sandboxed child, then every task; return the outcomes.

    ``groups`` (one label per task, e.g. the exercise) lets a group fail fast:
    after a task of a group times out or kills its process, the group's other
    tasks are not run (they fail with a message saying so). A task that gets
    no outcome because the child died fails with the reason, and a fresh child
    runs the tasks of the other groups.
    """
    groups = list(range(len(tasks))) if groups is None else list(groups)
    run = AnswerRun()
    remaining = list(range(len(tasks)))
    first = True
    outcomes: dict[int, Outcome] = {}
    while remaining:
        errors, got, why = _one_child(cells, [tasks[i] for i in remaining],
                                      [groups[i] for i in remaining], limits)
        if first:
            run.cell_errors, first = errors, False
        for j, outcome in got.items():
            outcomes[remaining[j]] = outcome
        missing = [i for j, i in enumerate(remaining) if j not in got]
        if missing:
            dead = groups[missing[0]]
            outcomes[missing[0]] = Outcome(None, why)
            for i in missing[1:]:
                if groups[i] == dead:
                    outcomes[i] = Outcome(None, _SKIPPED)
            missing = [i for i in missing if i not in outcomes]
        remaining = missing
    run.outcomes = [outcomes[i] for i in range(len(tasks))]
    return run


_SKIPPED = "not run: an earlier case of this exercise timed out or killed its process"


def _one_child(cells, tasks, groups, limits: Limits) -> tuple[list[str], dict[int, Outcome], str]:
    nonce = secrets.token_bytes(16)
    request = encode({"nonce": nonce.hex(), "cells": list(cells), "tasks": list(tasks),
                      "groups": [str(g) for g in groups],
                      "seconds_per_task": limits.seconds_per_task,
                      "seconds_per_cell": limits.seconds_per_cell})
    payload = b"".join([struct.pack("<II", len(request[0].encode()), len(request[1])),
                        request[0].encode(), request[1]])
    home = private_directory()
    wall = 15 + limits.seconds_per_cell * len(cells) + limits.seconds_per_task * len(tasks)
    try:
        proc = subprocess.Popen(_child_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=home, env=sandbox_env(home),
                                start_new_session=True, preexec_fn=lambda: apply_limits(limits))
        try:
            out, err = proc.communicate(payload, timeout=wall)
            why = _death_reason(proc.returncode, err)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, err = proc.communicate()
            why = f"the answer did not finish within {wall:.0f} s (an infinite loop?)"
        _kill_group(proc)  # whatever the answer left running in its session
    finally:
        shutil.rmtree(home, ignore_errors=True)
    errors, outcomes = _read_frames(out[:_MAX_OUTPUT], nonce)
    return errors, outcomes, why


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _death_reason(returncode: int, stderr: bytes) -> str:
    tail = stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
    if returncode == 0:
        return "the process running the answer exited early (sys.exit or os._exit in the answer?)"
    if returncode < 0:
        name = signal.Signals(-returncode).name
        hint = {"SIGXCPU": "it used up its CPU time", "SIGKILL": "it was killed (memory?)",
                "SIGSEGV": "it crashed"}.get(name, "")
        return f"the process running the answer died with {name} {hint}".rstrip()
    return f"the process running the answer exited with status {returncode}: {tail[0][:200]}"


def _read_frames(out: bytes, nonce: bytes) -> tuple[list[str], dict[int, Outcome]]:
    errors: list[str] = []
    outcomes: dict[int, Outcome] = {}
    pos = 0
    while True:
        pos = out.find(_MAGIC, pos)
        if pos < 0 or pos + len(_MAGIC) + _HEADER.size > len(out):
            break
        start = pos + len(_MAGIC)
        tag, index, n_json, n_npz = _HEADER.unpack_from(out, start)
        body = start + _HEADER.size
        if tag != nonce or body + n_json + n_npz > len(out):
            pos += 1
            continue
        try:
            end = body + n_json
            value = decode(out[body:end].decode(), out[end:end + n_npz])
        except Exception:  # a malformed frame is ignored: its task then counts as missing
            pos += 1
            continue
        if index < 0:
            errors = [str(e) for e in value]
        elif isinstance(value, Outcome):
            outcomes[index] = value
        pos = end + n_npz
    return errors, outcomes


# --------------------------------------------------------------------------- child side


class _ImportBlocker(MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        top = fullname.split(".")[0]
        if top in BLOCKED_IMPORTS:
            raise ImportError(
                f"importing {fullname} is not allowed in an answer: implement the computation "
                f"yourself with NumPy (the grader compares it with dlopt's reference)")
        return None


_MAGIC_LINE = re.compile(r"^(\s*)[%!]")


def _strip_magics(source: str) -> str:
    """IPython magics and shell escapes (``%...``, ``!...``) become ``pass``."""
    return "\n".join(_MAGIC_LINE.sub(r"\1pass  # ", line) for line in source.splitlines())


def _exec_cells(cells: list[str], namespace: dict, seconds: float) -> list[str]:
    errors = []
    for i, source in enumerate(cells):
        try:
            code = compile(_strip_magics(source), f"<answer cell {i + 1}>", "exec")
            with _time_limit(seconds):
                exec(code, namespace)
        except (Exception, TaskTimeout) as exc:
            errors.append(f"answer cell {i + 1}: {describe_exception(exc)}")
    return errors


def _send(channel, nonce: bytes, index: int, value) -> None:
    text, blob = encode(value)
    data = text.encode()
    channel.write(_MAGIC + _HEADER.pack(nonce, index, len(data), len(blob)) + data + blob)
    channel.flush()


def child_main() -> None:
    """Entry point of the sandboxed child (see the module docstring)."""
    channel = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    raw = sys.stdin.buffer.read()
    n_json, n_npz = struct.unpack_from("<II", raw)
    request = decode(raw[8:8 + n_json].decode(), raw[8 + n_json:8 + n_json + n_npz])
    nonce = bytes.fromhex(request["nonce"])
    stand_ins = load_stand_ins()
    for name in [m for m in sys.modules if m.split(".")[0] in BLOCKED_IMPORTS]:
        del sys.modules[name]
    sys.meta_path.insert(0, _ImportBlocker())
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    _send(channel, nonce, -1, _exec_cells(request["cells"], namespace,
                                          request["seconds_per_cell"]))
    timed_out = set()
    for i, (task, group) in enumerate(zip(request["tasks"], request["groups"], strict=True)):
        fn = namespace.get(task.function)
        if group in timed_out:
            outcome = Outcome(None, _SKIPPED)
        elif not callable(fn):
            outcome = Outcome(None, f"NameError: no function named {task.function} was defined "
                                    "by the answer cells")
        else:
            try:
                outcome = run_task(task, fn, stand_ins=stand_ins,
                                   time_limit=request["seconds_per_task"])
            except TaskTimeout as exc:
                outcome = Outcome(None, f"TaskTimeout: {exc}")
                timed_out.add(group)
        _send(channel, nonce, i, outcome)


# --------------------------------------------------------------------------- kernel launcher


def _private_ipython_dir(home: str) -> str:
    """An IPython folder in ``home`` holding only the grader's kernel configuration, if any.

    The grader's ``profile_default/ipython_kernel_config.py`` (trusted, e.g. a log
    level) is copied; nothing a previous submission could have planted is.
    """
    theirs = os.path.join(os.environ.get("IPYTHONDIR", os.path.expanduser("~/.ipython")),
                          "profile_default", "ipython_kernel_config.py")
    ours = os.path.join(home, ".ipython")
    if os.path.isfile(theirs):
        profile = os.path.join(ours, "profile_default")
        os.makedirs(profile, exist_ok=True)
        shutil.copyfile(theirs, os.path.join(profile, "ipython_kernel_config.py"))
        if os.geteuid() == 0:
            for path in (ours, profile, os.path.join(profile, "ipython_kernel_config.py")):
                os.chown(path, sandbox_user(), sandbox_user())
    return ours


def launch(argv: list[str] | None = None) -> None:
    """``python -m dlopt.grading.sandbox --memory BYTES [--home DIR] -- CMD...``: limit, drop, exec.

    Used as the prefix of a Jupyter kernel's command: sets the address-space,
    core-file and process-count limits, a private HOME, drops root privileges
    (see :func:`privilege_prefix`) and replaces itself with ``CMD``.
    """
    parser = argparse.ArgumentParser(prog="python -m dlopt.grading.sandbox")
    parser.add_argument("--memory", type=int, default=Limits.memory_bytes)
    parser.add_argument("--processes", type=int, default=Limits.processes)
    parser.add_argument("--home", default=None)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    _set_limits(memory=args.memory, processes=args.processes)
    os.environ[SANDBOX_MARKER] = "1"
    if args.home:
        ipython_dir = _private_ipython_dir(args.home)
        os.environ.update({"HOME": args.home, "IPYTHONDIR": ipython_dir,
                           "MPLCONFIGDIR": os.path.join(args.home, ".matplotlib")})
    full = [*privilege_prefix(), *command]
    os.execvp(full[0], full)


if __name__ == "__main__":
    launch()
