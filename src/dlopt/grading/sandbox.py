r"""Running untrusted answer code behind the operating system's walls, and getting its outputs.

The grading process (the parent) never runs a student's code. For each
exercise it starts a child with :func:`run_answer`, in a sandbox made by
`bubblewrap <https://github.com/containers/bubblewrap>`_ (``bwrap``):

- **its own file system**: an empty root holding, read-only, the shared
  libraries, the Python interpreter with its standard library (its
  ``site-packages`` hidden), NumPy, and the few grading modules the child
  runs (:mod:`dlopt.grading.child`, :mod:`~dlopt.grading.tasks`, and
  :mod:`~dlopt.grading.stand_ins` only for the exercises that use it); a
  private, size-limited ``/tmp`` that disappears with the child. The course
  root, the source notebooks, other submissions, the gradebook, the rest of
  ``dlopt`` (the references) and torch are not there to be opened;
- **its own namespaces**: process IDs (it sees only its own processes, cannot
  signal anyone else's, and everything it starts dies with it), network (no
  network at all), IPC and host name;
- **its own user**: as root the child runs as a fresh unprivileged uid with
  no capabilities and ``no_new_privs``; as an ordinary user, bubblewrap puts it
  in a user namespace of its own;
- **limits the child cannot undo**: address space, file size, core files,
  processes (as root), a hard CPU-time limit for the whole child, and a
  watchdog in the parent that kills it when one case uses more than its CPU
  time, when it waits without computing, or when its output grows too large.
  Signals the child blocks change nothing: the watchdog reads the CPU time
  of the child's processes from ``/proc`` and kills them with ``SIGKILL``.

The parent reads the frames the child writes (JSON and ``.npz`` without
pickle, tagged with a per-run nonce) and returns them as data; the caller
compares them with the reference in its own process. A case whose frame never
came fails with the reason. Only when the *machine* kept the child from
running (it was runnable but got no CPU for :attr:`Limits.wall_seconds`) is the
result :class:`NotGradable`: "re-run", never a silent 0.
"""

from __future__ import annotations

import os
import resource
import secrets
import shutil
import signal
import site
import struct
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from dlopt.grading.child import MAGIC, SKIPPED, read_frames
from dlopt.grading.tasks import Outcome, encode

_GRADING = Path(__file__).resolve().parent
_PACKAGE = _GRADING.parent
_TICK = os.sysconf("SC_CLK_TCK")
_STARTUP_CPU = 2.0  # Python and NumPy starting in the child (about 0.2 s here)


@dataclass(frozen=True)
class Limits:
    """What a sandboxed child may use. CPU seconds are the child's own, whatever the load."""

    cpu_seconds_per_task: float = 5.0
    cpu_seconds_per_cell: float = 3.0  # all the answer's cells together
    cpu_seconds: int = 60  # the whole child, enforced by the kernel (RLIMIT_CPU)
    idle_seconds: float = 5.0  # waiting without computing (sleep, a blocked read)
    wall_seconds: float = 300.0  # a child the machine kept from running: NotGradable
    memory_bytes: int = 2 << 30
    file_bytes: int = 16 << 20
    tmp_bytes: int = 64 << 20
    output_bytes: int = 64 << 20
    processes: int = 16


class NotGradable(RuntimeError):
    """The machine, not the answer, kept the child from finishing: grade this submission again."""


@dataclass
class AnswerRun:
    """What a child reported: one report per answer cell, and one outcome per task."""

    cells: list[dict] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    cells_failed: str | None = None  # why the child never finished the answer's cells
    stopped_at: int | None = None  # the first task without an outcome (the child died there)

    @property
    def cell_errors(self) -> list[str]:
        return [
            f"answer cell {i + 1}: {c['error']}" for i, c in enumerate(self.cells) if c.get("error")
        ]


# --------------------------------------------------------------------------- the sandbox


def bwrap() -> str:
    """The ``bwrap`` executable (Debian's ``bubblewrap`` package), or a clear error."""
    path = shutil.which("bwrap") or ("/usr/bin/bwrap" if os.path.exists("/usr/bin/bwrap") else None)
    if path is None:
        raise RuntimeError("grading needs bubblewrap: install it (apt-get install bubblewrap)")
    return path


def _uid() -> int:
    """A fresh unprivileged uid for one child when grading as root (no account needed)."""
    return 200_000 + secrets.randbelow(100_000)


def _system_binds() -> list[str]:
    """Shared libraries, the interpreter and its standard library, read-only."""
    args = []
    for d in ("/usr", "/usr/bin", "/etc"):
        args += ["--perms", "0755", "--dir", d]
    for d in ("/usr/lib", "/usr/lib64", "/usr/lib32"):
        if os.path.isdir(d):
            args += ["--ro-bind", d, d]
    for d in ("/lib", "/lib64", "/lib32"):
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
    if os.path.exists("/etc/ld.so.cache"):
        args += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    python = os.path.realpath(sys.executable)
    prefix = os.path.realpath(sys.base_prefix)
    for path in (prefix, *_libpython_dirs(), python):
        if path == prefix or not path.startswith(prefix + os.sep):
            args += _dirs_to(path) + ["--ro-bind", path, path]
    for hidden in _site_dirs():  # installed packages must not be reachable from the stdlib's tree
        args += ["--tmpfs", hidden]
    return args


def _libpython_dirs() -> list[str]:
    """The folders of the ``libpython`` this interpreter has loaded (a relocated Python's
    compile-time ``LIBDIR`` may name a folder that no longer holds it, or that this user
    cannot enter)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "libpython" in line}
    except OSError:
        paths = set()
    return sorted({os.path.dirname(os.path.realpath(p)) for p in paths if p.startswith("/")})


def _dirs_to(path: str) -> list[str]:
    """``--dir`` for every ancestor of ``path`` (world-readable, as the host's may not be)."""
    parts = Path(path).parents
    return [a for p in reversed(list(parts)[:-1]) for a in ("--perms", "0755", "--dir", str(p))]


def _site_dirs() -> list[str]:
    """Every folder of installed packages under a bound folder (system, user and venv ones)."""
    candidates = set(site.getsitepackages()) | {site.getusersitepackages()}
    for base in (sys.prefix, sys.base_prefix):
        paths = sysconfig.get_paths(vars={"base": base, "platbase": base})
        candidates |= {paths["purelib"], paths["platlib"]}
    candidates |= {
        os.path.join(p, "lib", "python3", "dist-packages") for p in ("/usr", "/usr/local")
    }
    bound = [os.path.realpath(p) for p in ("/usr/lib", "/usr/lib64", sys.base_prefix)]
    out = []
    for c in sorted(candidates):
        real = os.path.realpath(c)
        if os.path.isdir(real) and any(real == b or real.startswith(b + os.sep) for b in bound):
            out.append(real)
    return out


def _module_binds(stand_ins: bool) -> list[str]:
    """NumPy and the child's own modules (no reference, no torch), read-only under /grader."""
    import numpy

    numpy_dir = os.path.dirname(os.path.realpath(numpy.__file__))
    args = [
        a
        for d in ("/grader", "/grader/dlopt", "/grader/dlopt/grading")
        for a in ("--perms", "0755", "--dir", d)
    ]
    args += ["--ro-bind", numpy_dir, "/grader/numpy"]
    libs = numpy_dir + ".libs"
    if os.path.isdir(libs):
        args += ["--ro-bind", libs, "/grader/numpy.libs"]
    files = [
        _PACKAGE / "__init__.py",
        _GRADING / "__init__.py",
        _GRADING / "child.py",
        _GRADING / "tasks.py",
    ] + ([_GRADING / "stand_ins.py"] if stand_ins else [])
    for f in files:
        args += ["--ro-bind", str(f), "/grader/dlopt/" + str(f.relative_to(_PACKAGE))]
    return args


def sandbox_command(request_file: str, limits: Limits, *, stand_ins: bool) -> list[str]:
    """The command that runs :func:`dlopt.grading.child.main` in a fresh sandbox."""
    root = os.geteuid() == 0
    args = [
        bwrap(),
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--setenv",
        "HOME",
        "/tmp",
        "--setenv",
        "LANG",
        "C.UTF-8",
        "--setenv",
        "OPENBLAS_NUM_THREADS",
        "1",
        "--setenv",
        "OMP_NUM_THREADS",
        "1",
        "--setenv",
        "MKL_NUM_THREADS",
        "1",
        "--hostname",
        "sandbox",
    ]
    if not root:
        args += ["--unshare-user", "--disable-userns"]
    args += _system_binds() + _module_binds(stand_ins)
    args += [
        "--ro-bind",
        request_file,
        "/grader/request",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--perms",
        "1777",
        "--size",
        str(limits.tmp_bytes),
        "--tmpfs",
        "/tmp",
        "--perms",
        "1777",
        "--size",
        str(limits.tmp_bytes),
        "--tmpfs",
        "/dev/shm",
        "--chdir",
        "/tmp",
    ]
    if root:  # bwrap drops every capability but these two, which setpriv drops in turn
        uid = _uid()
        args += [
            "--ro-bind",
            _setpriv(),
            "/usr/bin/setpriv",
            "--cap-add",
            "CAP_SETUID",
            "--cap-add",
            "CAP_SETGID",
            "--",
            "/usr/bin/setpriv",
            f"--reuid={uid}",
            f"--regid={uid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
        ]
    else:
        args += ["--"]
    bootstrap = (
        "import sys; sys.path[:0] = ['/grader']; sys.dont_write_bytecode = True; "
        "from dlopt.grading.child import main; main()"
    )
    return args + [os.path.realpath(sys.executable), "-I", "-S", "-c", bootstrap]


def _setpriv() -> str:
    path = shutil.which("setpriv")
    if path is None:
        raise RuntimeError("grading as root needs setpriv (util-linux) to drop privileges")
    return os.path.realpath(path)


def _apply_limits(limits: Limits) -> None:
    """Limits the kernel enforces on the sandbox and all it starts (set before ``exec``)."""
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
    if os.geteuid() == 0:  # counted per uid: the child's uid is its own
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))


# --------------------------------------------------------------------------- the watchdog


def _descendants(pid: int) -> dict[int, tuple[str, float]]:
    """``{pid: (state, cpu seconds)}`` of ``pid`` and every process below it, from ``/proc``."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        table[int(entry.name)] = (
            int(fields[1]),
            fields[0],
            (int(fields[11]) + int(fields[12])) / _TICK,
        )
    children: dict[int, list[int]] = {}
    for p, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(p)
    out, stack = {}, [pid]
    while stack:
        p = stack.pop()
        if p in table:
            out[p] = table[p][1:]
            stack += children.get(p, [])
    return out


def _kill_tree(proc: subprocess.Popen) -> None:
    """Kill everything below bubblewrap, then bubblewrap (which reaps its child first)."""
    for p in _descendants(proc.pid):
        if p != proc.pid:
            try:
                os.kill(p, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()


@dataclass
class _Watch:
    """The state the watchdog keeps between two frames."""

    cpu_at_frame: float = 0.0
    cpu_seen: float = 0.0  # processes that exited take their CPU time with them
    idle: float = 0.0
    starved: float = 0.0


def _watch(proc: subprocess.Popen, limits: Limits) -> tuple[bytes, str | None]:
    """Read the child's frames until it exits or breaks a limit; ``(bytes, why killed)``."""
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    out = bytearray()
    frames = 0
    watch = _Watch()
    last = time.monotonic()
    why = None
    while True:
        readable = _wait_readable(fd, 0.05)
        if readable:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            # count frame marks in the new bytes only (plus a mark split across two reads)
            seen = max(0, len(out) - len(MAGIC) + 1)
            out += chunk
            count = out.count(MAGIC, seen)
            if count:
                frames += count
                watch.cpu_at_frame, watch.idle, watch.starved = watch.cpu_seen, 0.0, 0.0
            if len(out) > limits.output_bytes:
                why = f"its output was larger than {limits.output_bytes >> 20} MiB"
                break
        now = time.monotonic()
        dt, last = now - last, now
        tree = _descendants(proc.pid)
        watch.cpu_seen = max(watch.cpu_seen, sum(c for _, c in tree.values()))
        running = any(s == "R" for s, _ in tree.values())
        if running:
            watch.starved += dt
        else:
            watch.idle += dt
        budget = (
            limits.cpu_seconds_per_task if frames else _STARTUP_CPU + limits.cpu_seconds_per_cell
        )
        if watch.cpu_seen - watch.cpu_at_frame > budget:
            what = "on one case" if frames else "in all"
            why = f"it used more than {budget:g} s of CPU time {what} (an infinite loop?)"
            break
        if watch.idle > limits.idle_seconds:
            why = (
                f"it waited for {limits.idle_seconds:g} s without computing "
                "(time.sleep, input() or a blocked read?)"
            )
            break
        if watch.starved > limits.wall_seconds:
            raise NotGradable(
                f"the grading child got too little CPU time in "
                f"{limits.wall_seconds:g} s: the machine is overloaded; re-run"
            )
        if proc.poll() is not None and not readable:
            # drain what is left in the pipe, then stop
            try:
                rest = os.read(fd, limits.output_bytes)
            except BlockingIOError:
                rest = b""
            out += rest
            if not rest:
                break
    return bytes(out[: limits.output_bytes]), why


def _wait_readable(fd: int, timeout: float) -> bool:
    import select

    r, _, _ = select.select([fd], [], [], timeout)
    return bool(r)


def _death_reason(returncode: int | None, stderr_tail: str) -> str:
    if returncode == 0:
        return "the process running the answer exited early (sys.exit or os._exit in the answer?)"
    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name
        hint = {
            "SIGXCPU": "it used up its CPU time",
            "SIGKILL": "it was killed (memory?)",
            "SIGSEGV": "it crashed",
            "SIGXFSZ": "it wrote a file larger than allowed",
        }
        return f"the process running the answer died with {name} {hint.get(name, '')}".rstrip()
    return f"the process running the answer exited with status {returncode}: {stderr_tail[:200]}"


# --------------------------------------------------------------------------- run an answer


def run_answer(
    cells: list[str],
    tasks: list,
    *,
    limits: Limits = Limits(),
    stand_ins: bool = False,
    groups: list[str] | None = None,
) -> AnswerRun:
    """Execute the answer ``cells`` in a fresh sandbox, then every task; return the outcomes.

    One child runs all ``tasks``. ``groups`` labels each task with its
    exercise: a case that runs out of time skips the rest of its exercise.
    When the child dies (a limit, a crash, an exit), the first task without an
    outcome gets the reason, the following ones a "not run" message, and
    :attr:`AnswerRun.stopped_at` says where it stopped. ``stand_ins`` puts
    :mod:`dlopt.grading.stand_ins` into the sandbox (for exercises whose
    function calls one). Raises :class:`NotGradable` if the machine, not the
    answer, kept the child from finishing.
    """
    nonce = secrets.token_bytes(16)
    groups = [str(g) for g in groups] if groups is not None else [""] * len(tasks)
    text, blob = encode(
        {
            "nonce": nonce.hex(),
            "cells": list(cells),
            "tasks": list(tasks),
            "groups": groups,
            "stand_ins": bool(stand_ins),
            "seconds_per_task": limits.cpu_seconds_per_task,
            "seconds_per_cell": limits.cpu_seconds_per_cell,
        }
    )
    private = tempfile.mkdtemp(prefix="dlopt-grading-")  # the grader's own, mode 0700
    try:
        request = os.path.join(private, "request")
        with open(request, "wb") as f:
            f.write(struct.pack("<II", len(text.encode()), len(blob)) + text.encode() + blob)
        os.chmod(request, 0o444)
        with open(os.path.join(private, "stderr"), "wb+") as err:
            proc = subprocess.Popen(
                sandbox_command(request, limits, stand_ins=stand_ins),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                start_new_session=True,
                preexec_fn=lambda: _apply_limits(limits),
            )
            try:
                out, killed = _watch(proc, limits)
            finally:
                _kill_tree(proc)
                proc.wait()
                proc.stdout.close()
            err.seek(max(0, err.seek(0, os.SEEK_END) - 4096))
            tail = err.read().decode(errors="replace").strip().splitlines()[-1:] or [""]
    finally:
        shutil.rmtree(private, ignore_errors=True)
    reports, got = read_frames(out, nonce)
    if reports is None and not killed and tail[0].startswith("bwrap:"):  # never a silent 0
        raise RuntimeError(f"the grading sandbox could not start: {tail[0]}")
    why = killed or _death_reason(proc.returncode, tail[0])
    missing = [i for i in range(len(tasks)) if i not in got]
    outcomes = [
        got[i] if i in got else Outcome(None, why if i == missing[0] else SKIPPED)
        for i in range(len(tasks))
    ]
    stopped_at = missing[0] if missing else None
    if reports is None:
        return AnswerRun(
            [{"text": "", "error": None} for _ in cells],
            outcomes,
            cells_failed=f"while running the answer cells, {why}",
            stopped_at=stopped_at,
        )
    return AnswerRun(reports, outcomes, stopped_at=stopped_at)
