"""Grading as an ordinary user (a hub's grader account), not as root: the walls still hold.

CI runs as root, so these tests create an ordinary account (``dlopt-grader``)
and run the grader as that user with Debian's Python 3.11 (the same ABI as
the project's interpreter, whose home, ``/root``, other users cannot read) and
the project's installed packages on ``PYTHONPATH``. There, bubblewrap makes
an unprivileged user namespace instead of switching to a fresh uid. A real
``nbgrader autograde`` grades a small class with attacks on the grading, serial
and in parallel, in a course root the account owns.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from submissions.cheats import GRADER_ATTACKS, with_attack

from dlopt.grading.assignments import EXERCISES

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
USER = "dlopt-grader"
PYTHON = "/usr/bin/python3.11"
ATTACKS = (
    "kills_other_gradings",
    "tampers_with_the_course",
    "copies_classmates",
    "runs_the_source_notebook",
    "loads_reference_by_path",
    "blocks_signals_and_loops",
    "leaves_big_files",
)


def _ready() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create the ordinary account"
    if not os.access(PYTHON, os.X_OK):
        return f"needs {PYTHON} (Debian's python3.11)"
    if sys.version_info[:2] != (3, 11):
        return "the project's packages are built for Python 3.11"
    return None


@pytest.fixture(scope="module")
def user_env(tmp_path_factory):
    reason = _ready()
    if reason:
        pytest.fail(f"cannot test grading as an ordinary user: {reason}")
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", USER], check=True
        )
    home = tmp_path_factory.mktemp("grader-home")
    tools = home / "bin"
    tools.mkdir()
    (tools / "alembic").write_text(f'#!/bin/sh\nexec {PYTHON} -m alembic "$@"\n')
    (tools / "alembic").chmod(0o755)
    site = sysconfig.get_paths()["purelib"]
    env = {
        "PATH": f"{tools}:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONPATH": f"{REPO / 'src'}:{site}",
        "OMP_NUM_THREADS": "1",
        "PYTHONWARNINGS": "ignore:Object of type:Warning",
    }
    for path in (home, tools):
        shutil.chown(path, USER, USER)
    for parent in [*reversed(home.parents)]:  # pytest's folders are private to root
        if str(parent).startswith("/tmp/"):
            parent.chmod(parent.stat().st_mode | 0o711)
    return env, home


def as_user(args, *, env, cwd, timeout=900):
    return subprocess.run(
        ["runuser", "-u", USER, "--", "env", "-i", *[f"{k}={v}" for k, v in env.items()], *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def scores(root: Path, assignment: str) -> dict:
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return {
            s.student.id: {g.name: g.score for nb in s.notebooks for g in nb.grades}
            for s in gb.assignment_submissions(assignment)
        }


@pytest.mark.parametrize("mode", ["serial", "parallel"])
def test_grading_as_an_ordinary_user_keeps_the_walls(user_env, mode):
    env, home = user_env
    assignment = "gradient_descent"
    root = home / f"course-{mode}"
    shutil.copytree(
        REPO / "exercises",
        root,
        ignore=shutil.ignore_patterns(
            "gradebook.db",
            "release",
            "submitted",
            "autograded",
            "feedback",
            "exchange",
            ".grading_secret",
        ),
    )
    subprocess.run(["chown", "-R", f"{USER}:{USER}", str(root)], check=True)
    gen = as_user(
        [PYTHON, "-m", "nbgrader", "generate_assignment", assignment, "--force"], env=env, cwd=root
    )
    assert gen.returncode == 0, gen.stderr[-3000:]
    source = nbformat.read(root / "source" / assignment / f"{assignment}.ipynb", 4)
    released = nbformat.read(root / "release" / assignment / f"{assignment}.ipynb", 4)
    class_ = {"source": source}
    for name in ATTACKS:
        nb = nbformat.from_dict(json.loads(json.dumps(released)))
        with_attack(GRADER_ATTACKS[name])(nb)
        class_[f"attack-{name}"] = nb
    for student, nb in class_.items():
        folder = root / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{assignment}.ipynb")
    subprocess.run(["chown", "-R", f"{USER}:{USER}", str(root)], check=True)
    config = (root / "nbgrader_config.py").read_bytes()
    command = (
        [PYTHON, "-m", "nbgrader", "autograde", assignment]
        if mode == "serial"
        else [PYTHON, "-m", "dlopt.grading.autograde_class", assignment, "--jobs", "2"]
    )
    graded = as_user(command, env=env, cwd=root)
    got = scores(root, assignment)
    cells = [e.grade_id for e in EXERCISES.values() if e.assignment == assignment]
    full = {c: got["source"][c] for c in cells}
    assert all(v > 0 for v in full.values()), (full, graded.stderr[-3000:])
    for name in ATTACKS:
        attack = {c: got[f"attack-{name}"][c] for c in cells}
        assert attack == dict.fromkeys(cells, 0.0), (name, attack)
    assert (root / "nbgrader_config.py").read_bytes() == config
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        extra = [
            g.extra_credit
            for s in gb.assignment_submissions(assignment)
            for nb in s.notebooks
            for g in nb.grades
            if g.extra_credit
        ]
    assert extra == []
    assert not list(Path("/tmp").glob("dlopt-attack-left-behind"))
