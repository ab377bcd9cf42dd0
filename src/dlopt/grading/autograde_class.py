r"""Autograde a whole class on every core, into the course's one gradebook.

    python -m dlopt.grading.autograde_class optimizers --jobs 2      # in the course root

nbgrader grades submissions one after another. This command splits the
students of ``submitted/*/<assignment>`` into ``jobs`` balanced groups, and
runs one ordinary ``nbgrader autograde <assignment>`` per group, at the same
time, each in a **private copy** of the course (its own copy of the gradebook,
of the config and grading secret, of the source and of its students'
submissions: copies, not links, so nothing in a workspace leads back to the
course root). When all are done it merges the copies' results into the course
gradebook through nbgrader's ``Gradebook`` API and moves the autograded
notebooks into ``autograded/``. No student code runs outside the sandbox of
:mod:`dlopt.grading.sandbox` in either place.

Why private copies rather than N processes on one SQLite file: nbgrader opens
and commits the gradebook many times per notebook, and concurrent writers
get "database is locked" errors; and :class:`~dlopt.grading.nbgrader_plugin.RestoreCourseFiles`
must be able to tell a student's write to the gradebook from another
worker's. Merging is a few milliseconds per student.

``--jobs 1`` runs plain ``nbgrader autograde`` in the course root. Extra
arguments after ``--`` go to every ``nbgrader autograde`` (e.g. ``--force``).
A worker's exit status 1 is normal when a submission killed its kernel
(nbgrader grades the rest and reports the failure); the command reports
each worker's status and exits 1 if any worker did.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from dlopt.grading.nbgrader_plugin import SECRET_NAME, grading_secret

_COPIED_FIELDS = {
    "grade": ("auto_score", "manual_score", "extra_credit", "needs_manual_grade"),
    "comment": ("auto_comment", "manual_comment"),
}


def students_of(root: Path, assignment: str) -> list[str]:
    """Students with a submission of ``assignment`` (folders ``submitted/<id>/<assignment>``)."""
    return sorted(p.parent.name for p in (root / "submitted").glob(f"*/{assignment}") if p.is_dir())


def split(students: list[str], jobs: int) -> list[list[str]]:
    """Round-robin groups of about equal size (submissions cost about the same)."""
    return [g for g in (students[k::jobs] for k in range(jobs)) if g]


def make_workspace(root: Path, students: list[str], assignment: str) -> Path:
    """A private course root: copies of the config, secret, gradebook, source and submissions."""
    work = Path(tempfile.mkdtemp(prefix=f"autograde-{assignment}-"))
    shutil.copy2(root / "nbgrader_config.py", work / "nbgrader_config.py")
    grading_secret(root)
    shutil.copy2(root / SECRET_NAME, work / SECRET_NAME)
    with (
        sqlite3.connect(root / "gradebook.db") as src,
        sqlite3.connect(work / "gradebook.db") as dst,
    ):
        src.backup(dst)
    if (root / "source" / assignment).is_dir():
        shutil.copytree(root / "source" / assignment, work / "source" / assignment, symlinks=False)
    for student in students:
        shutil.copytree(
            root / "submitted" / student / assignment,
            work / "submitted" / student / assignment,
            symlinks=True,
        )
    return work


def merge(work: Path, root: Path, assignment: str, students: list[str]) -> None:
    """Copy a workspace's results for ``students`` into the course gradebook and folders."""
    with warnings.catch_warnings():  # nbgrader's harmless "Object of type ... not in session"
        warnings.filterwarnings("ignore", message="Object of type")
        _merge_gradebook(work, root, assignment, students)
    _move_autograded(work, root, assignment, students)


def _merge_gradebook(work: Path, root: Path, assignment: str, students: list[str]) -> None:
    with (
        Gradebook(f"sqlite:///{work / 'gradebook.db'}") as theirs,
        Gradebook(f"sqlite:///{root / 'gradebook.db'}") as ours,
    ):
        for student in students:
            try:
                sub = theirs.find_submission(assignment, student)
            except MissingEntry:
                continue
            ours.update_or_create_student(student)
            target = ours.update_or_create_submission(assignment, student, timestamp=sub.timestamp)
            target.extension = sub.extension
            for nb in sub.notebooks:
                for kind, fields in _COPIED_FIELDS.items():
                    for item in getattr(nb, f"{kind}s"):
                        find = ours.find_grade if kind == "grade" else ours.find_comment
                        dest = find(item.name, nb.name, assignment, student)
                        for name in fields:
                            setattr(dest, name, getattr(item, name))
                dest_nb = ours.find_submission_notebook(nb.name, assignment, student)
                dest_nb.flagged = nb.flagged
                dest_nb.late_submission_penalty = nb.late_submission_penalty
            ours.db.commit()


def _move_autograded(work: Path, root: Path, assignment: str, students: list[str]) -> None:
    for student in students:
        src = work / "autograded" / student / assignment
        if src.is_dir():
            dest = root / "autograded" / student / assignment
            if dest.exists():
                shutil.rmtree(dest)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(src), str(dest))


def nbgrader_command(assignment: str, extra: list[str]) -> list[str]:
    """``nbgrader autograde`` run by this interpreter (its ``bin`` goes first on PATH, for
    ``alembic``, in :func:`nbgrader_environment`)."""
    return [sys.executable, "-m", "nbgrader", "autograde", assignment, *extra]


def nbgrader_environment(*, quiet_in: Path | None = None) -> dict[str, str]:
    """``os.environ`` with this Python's ``bin`` first on PATH: nbgrader runs ``alembic``
    by name. With ``quiet_in``, also a private IPython profile there that silences
    ipykernel's TCP warning (kernels read it from IPYTHONDIR, not JUPYTER_CONFIG_DIR)
    and SQLAlchemy's harmless "Object of type ... not in session" warning."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    if quiet_in is not None:
        profile = Path(quiet_in) / "ipython" / "profile_default"
        profile.mkdir(parents=True, exist_ok=True)
        (profile / "ipython_kernel_config.py").write_text("c.IPKernelApp.log_level = 'ERROR'\n")
        env.update(IPYTHONDIR=str(profile.parent), PYTHONWARNINGS="ignore:Object of type:Warning")
    return env


def default_jobs() -> int:
    """One worker more than there are cores: a worker spends part of each notebook in
    nbgrader's own bookkeeping and waiting for its sandbox, and the extra worker keeps the
    cores busy meanwhile (see benchmarks/autograde.py for the measured speed-up)."""
    return (os.cpu_count() or 1) + 1


def autograde_class(
    root: Path,
    assignment: str,
    *,
    jobs: int | None = None,
    extra: list[str] = (),
    quiet: bool = False,
) -> int:
    """Autograde every submission of ``assignment``; returns the worst worker exit status."""
    root = Path(root).resolve()
    students = students_of(root, assignment)
    if not students:
        raise SystemExit(f"no submissions of {assignment!r} under {root / 'submitted'}")
    out = subprocess.DEVNULL if quiet else None
    jobs = default_jobs() if jobs is None else jobs
    command, env = nbgrader_command(assignment, list(extra)), nbgrader_environment()
    if jobs <= 1:
        return subprocess.run(command, cwd=root, env=env, stdout=out, stderr=out).returncode
    groups = split(students, jobs)
    workspaces = [make_workspace(root, g, assignment) for g in groups]
    try:
        procs = [
            subprocess.Popen(command, cwd=w, env=env, stdout=out, stderr=out) for w in workspaces
        ]
        codes = [p.wait() for p in procs]
        for work, group in zip(workspaces, groups, strict=True):
            merge(work, root, assignment, group)
    finally:
        for work in workspaces:
            shutil.rmtree(work, ignore_errors=True)
    for k, (code, group) in enumerate(zip(codes, groups, strict=True)):
        if code and not quiet:
            print(f"worker {k} ({len(group)} students) exited with status {code}", file=sys.stderr)
    return max(codes)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our options (in any order) and, after ``--``, the arguments for nbgrader."""
    parser = argparse.ArgumentParser(
        prog="python -m dlopt.grading.autograde_class", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument("assignment")
    parser.add_argument(
        "--jobs",
        type=_positive,
        default=None,
        help="workers (default: one more than the cores, see default_jobs)",
    )
    parser.add_argument("--root", default=".", help="the course root (default: .)")
    ours, extra = (
        (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    )
    args = parser.parse_args(ours)
    if args.jobs is None:
        args.jobs = default_jobs()
    return args, extra


def main(argv: list[str] | None = None) -> int:
    args, extra = parse_args(sys.argv[1:] if argv is None else list(argv))
    jobs = args.jobs
    start = time.perf_counter()
    code = autograde_class(Path(args.root), args.assignment, jobs=jobs, extra=extra)
    print(
        f"autograded {args.assignment} with {jobs} job(s) in "
        f"{time.perf_counter() - start:.1f} s (exit status {code})"
    )
    return code


if __name__ == "__main__":
    raise SystemExit(main())
