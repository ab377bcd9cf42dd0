"""Autograding a class: one serial ``nbgrader autograde`` against the parallel command.

    python benchmarks/autograde.py                      # 60 submissions of optimizers, 2 jobs
    python benchmarks/autograde.py --students 20 --assignment gradient_descent

Builds a synthetic class in a temporary copy of the course: solutions,
untouched released notebooks, and notebooks with one or two catalogued
mistakes, in a fixed mix. Grades it twice from the same starting state: once
with ``nbgrader autograde <assignment>`` (serial), once with
``python -m dlopt.grading.autograde_class <assignment> --jobs N``. Prints both
wall times, the speed-up, the seconds per submission, the CPU seconds of the
serial run (nbgrader with its kernels or sandboxes: a figure the machine's load
changes little, unlike wall time), and verifies that every
student gets the same score on every cell in both gradebooks (it exits 1 if
not). Target: at least 1.8x on 2 cores. Timings on a shared machine vary;
run it when the machine is otherwise idle.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import numpy as np
from nbgrader.api import Gradebook

from dlopt.grading.assignments import EXERCISES
from dlopt.grading.autograde_class import autograde_class, default_jobs, nbgrader_environment
from dlopt.grading.mistakes import MISTAKES

COURSE = Path(__file__).resolve().parents[1] / "exercises"
BIN = Path(sys.executable).parent


def synthetic_class(root: Path, assignment: str, n: int, *, rng) -> None:
    """``n`` submissions: 30% solutions, 10% released, 60% with one or two mistakes."""
    source = nbformat.read(root / "source" / assignment / f"{assignment}.ipynb", 4)
    released = nbformat.read(root / "release" / assignment / f"{assignment}.ipynb", 4)
    mistakes = [m for m in MISTAKES if EXERCISES[m.exercise].assignment == assignment]
    for i in range(n):
        kind = rng.choice(["solution", "released", "mistakes"], p=[0.3, 0.1, 0.6])
        nb = nbformat.from_dict(json.loads(json.dumps(released if kind == "released" else source)))
        if kind == "mistakes":
            for k in rng.choice(len(mistakes), size=int(rng.integers(1, 3)), replace=False):
                m = mistakes[int(k)]
                next(
                    c
                    for c in nb.cells
                    if c.metadata.get("nbgrader", {}).get("grade_id") == m.exercise
                ).source = m.source
        folder = root / "submitted" / f"student-{i:03d}" / assignment
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{assignment}.ipynb")


def _children_cpu() -> float:
    """CPU seconds of every finished child process and of what they waited for."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def scores(root: Path, assignment: str) -> dict:
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return {
            s.student.id: {g.name: g.score for nb in s.notebooks for g in nb.grades}
            for s in gb.assignment_submissions(assignment)
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", default="optimizers")
    parser.add_argument("--students", type=int, default=60)
    parser.add_argument("--jobs", type=int, default=default_jobs())
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="autograde-benchmark-"))
    try:
        env = nbgrader_environment(quiet_in=tmp)
        os.environ.update(env)  # the parallel command inherits it
        base = tmp / "serial"
        shutil.copytree(
            COURSE,
            base,
            ignore=shutil.ignore_patterns(
                "gradebook.db", "release", "submitted", "autograded", "feedback", "exchange"
            ),
        )
        subprocess.run(
            [str(BIN / "nbgrader"), "generate_assignment", args.assignment, "--force"],
            cwd=base,
            env=env,
            check=True,
            capture_output=True,
        )
        synthetic_class(base, args.assignment, args.students, rng=np.random.default_rng(0))
        parallel = tmp / "parallel"
        shutil.copytree(base, parallel)

        start, cpu0 = time.perf_counter(), _children_cpu()
        serial_code = subprocess.run(
            [str(BIN / "nbgrader"), "autograde", args.assignment],
            cwd=base,
            env=env,
            capture_output=True,
        ).returncode
        t_serial, cpu_serial = time.perf_counter() - start, _children_cpu() - cpu0
        start = time.perf_counter()
        parallel_code = autograde_class(parallel, args.assignment, jobs=args.jobs, quiet=True)
        t_parallel = time.perf_counter() - start

        a, b = scores(base, args.assignment), scores(parallel, args.assignment)
        same = a == b and len(a) == args.students
        n = args.students
        print(f"{n} submissions of {args.assignment}, {os.cpu_count()} cores")
        print(
            f"  serial nbgrader autograde : {t_serial:7.1f} s  ({t_serial / n:.2f} s each, "
            f"exit {serial_code})"
        )
        print(
            f"  CPU time, serial          : {cpu_serial:7.1f} s  ({cpu_serial / n:.2f} s each, "
            "nbgrader and everything it started; the load changes it little)"
        )
        print(
            f"  parallel, {args.jobs} jobs          : {t_parallel:7.1f} s  "
            f"({t_parallel / n:.2f} s each, exit {parallel_code})"
        )
        print(f"  speed-up                  : {t_serial / t_parallel:7.2f}x (target 1.8x)")
        print(f"  identical scores          : {same}")
        for student in sorted(set(a) | set(b)):
            if a.get(student) != b.get(student):
                print(f"    {student}: serial {a.get(student)}, parallel {b.get(student)}")
        return 0 if same else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
