"""The assignments, graded by real nbgrader commands, in the shape of nbgrader's own tests.

One temporary copy of the course holds every fixture submission: the
solution, the released notebook, one student per group of catalogued
mistakes (generated from ``dlopt.grading.mistakes``), one with correct
variants, one per cheat attempt of the threat model
(``submissions/cheats.py``) for ``optimizers``, and for every other
assignment one submission that attacks each of its exercises at once.
Each assignment is generated once and graded once (``gradient_descent`` and
``initialization`` with plain ``nbgrader autograde``, the others with
``python -m dlopt.grading.autograde_class``, which runs nbgrader workers and
merges their gradebooks); two are then graded again with every core kept busy
by other processes. The tests read the gradebook with nbgrader's ``Gradebook``
API and assert per-student, per-cell scores.

Under pytest-xdist the grading runs once, in whichever worker gets there
first; the others wait for its results (a file lock in the session's folder).
``DLOPT_ASSIGNMENTS=a,b`` grades only those assignments (see :data:`ASSIGNMENTS`).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook, MissingEntry
from submissions.cheats import ALL, CHEATS, GRADER_ATTACKS, combined_attack, with_attack
from submissions.variants import VARIANTS

from dlopt.grading.assignments import EXERCISES, NAMES
from dlopt.grading.autograde_class import nbgrader_environment
from dlopt.grading.mistakes import MISTAKES

pytestmark = pytest.mark.slow

COURSE = Path(__file__).resolve().parents[1] / "exercises"
ALL_ASSIGNMENTS = NAMES  # the registry's order: every assignment in exercises/source
# DLOPT_ASSIGNMENTS=a,b (comma-separated) grades only those assignments, for a quick round
# trip of one while developing it; select its tests with -k too (the tests of the cheats and
# of the loaded machine need "optimizers", "activations" and "batch_norm"). CI sets nothing:
# every assignment is graded.
_ONLY = [a for a in os.environ.get("DLOPT_ASSIGNMENTS", "").split(",") if a]
if unknown := set(_ONLY) - set(ALL_ASSIGNMENTS):
    raise ValueError(f"DLOPT_ASSIGNMENTS names unknown assignments: {sorted(unknown)}")
ASSIGNMENTS = tuple(a for a in ALL_ASSIGNMENTS if a in _ONLY) if _ONLY else ALL_ASSIGNMENTS
# graded through the parallel command (the default number of workers), the other two with
# plain nbgrader
PARALLEL = {
    "optimizers",
    "activations",
    "batch_norm",
    "regularization",
    "fine_tuning",
    "large_models",
}
# graded a second time with every core busy: the scores must not change
LOADED = tuple(a for a in ("activations", "batch_norm") if a in ASSIGNMENTS)
BIN = Path(sys.executable).parent


# --------------------------------------------------------------------------- environment


def run(args, *, cwd: Path, env) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def nbgrader(*args, cwd: Path, env) -> subprocess.CompletedProcess:
    return run([str(BIN / "nbgrader"), *args], cwd=cwd, env=env)


# --------------------------------------------------------------------------- submissions


def graded_cells(assignment: str) -> list[str]:
    return [e.grade_id for e in EXERCISES.values() if e.assignment == assignment]


def mistake_students(assignment: str) -> dict[str, list]:
    """Pack the assignment's mistakes into students, at most one per exercise and at most
    half the exercises broken per student, so every student also has correct answers."""
    queues = {
        name: [m for m in MISTAKES if m.exercise == name]
        for name, e in EXERCISES.items()
        if e.assignment == assignment
    }
    cap = math.ceil(len(queues) / 2)
    students = {}
    while any(queues.values()):
        busiest = sorted((q for q in queues.values() if q), key=len, reverse=True)[:cap]
        picked = [q.pop(0) for q in busiest]
        students[f"mistakes-{len(students):02d}"] = picked
    return students


def cell_by_id(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def write_submission(
    root: Path, student: str, assignment: str, nb=None, *, raw=None, filename=None
) -> None:
    folder = root / "submitted" / student / assignment
    folder.mkdir(parents=True)
    path = folder / (filename or f"{assignment}.ipynb")
    if raw is not None:
        path.write_text(raw)
    else:
        path.write_text(json.dumps(nb, indent=1))  # no validation: some are malformed on purpose


def build_submissions(root: Path, assignment: str) -> dict:
    """Write every fixture submission; return the expected zeros of each student."""
    source = nbformat.read(root / "source" / assignment / f"{assignment}.ipynb", 4)
    released = nbformat.read(root / "release" / assignment / f"{assignment}.ipynb", 4)
    cells = graded_cells(assignment)
    expected = {"source": set(), "released": set(cells)}
    write_submission(root, "source", assignment, source)
    write_submission(root, "released", assignment, released)

    variants = nbformat.from_dict(json.loads(json.dumps(source)))
    for exercise, by_key in VARIANTS.items():
        if EXERCISES[exercise].assignment == assignment:
            cell_by_id(variants, exercise).source = next(iter(by_key.values()))
    write_submission(root, "variants", assignment, variants)
    expected["variants"] = set()

    for student, mistakes in mistake_students(assignment).items():
        nb = nbformat.from_dict(json.loads(json.dumps(source)))
        for m in mistakes:
            cell_by_id(nb, m.exercise).source = m.source
        write_submission(root, student, assignment, nb)
        expected[student] = {f"test_{m.exercise}" for m in mistakes}

    if assignment == "optimizers":
        for cheat in CHEATS:
            start = released if cheat.released else source
            nb = nbformat.from_dict(json.loads(json.dumps(start)))
            if cheat.edit is not None:
                cheat.edit(nb)
            write_submission(
                root, f"cheat-{cheat.name}", assignment, nb, raw=cheat.raw, filename=cheat.filename
            )
            expected[f"cheat-{cheat.name}"] = set(cells) if cheat.zero == ALL else cheat.zero
    else:
        nb = nbformat.from_dict(json.loads(json.dumps(source)))
        combined_attack(
            nb,
            [c.removeprefix("test_") for c in cells],
            offset=2 * ALL_ASSIGNMENTS.index(assignment),
        )
        write_submission(root, "cheat-combined", assignment, nb)
        expected["cheat-combined"] = set(cells)
    for name, code in GRADER_ATTACKS.items():  # each on the garbage (released) answers
        nb = nbformat.from_dict(json.loads(json.dumps(released)))
        with_attack(code)(nb)
        write_submission(root, f"attack-{name}", assignment, nb)
        expected[f"attack-{name}"] = set(cells)
    folder = root / "submitted" / "attack-symlink" / assignment  # a link to the solution
    folder.mkdir(parents=True)
    (folder / f"{assignment}.ipynb").symlink_to(
        root / "source" / assignment / f"{assignment}.ipynb"
    )
    expected["attack-symlink"] = set(cells)
    return expected


# --------------------------------------------------------------------------- grading, once


def read_scores(root: Path, assignment: str, students) -> dict:
    scores = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for student in students:
            try:
                sub = gb.find_submission(assignment, student)
            except MissingEntry:
                scores[student] = None
                continue
            scores[student] = {g.name: g.score for nb in sub.notebooks for g in nb.grades}
        maxima = {
            gc.name: gc.max_score
            for nb in gb.find_assignment(assignment).notebooks
            for gc in nb.grade_cells
        }
    return {"scores": scores, "max": maxima}


def grade_everything(tmp: Path) -> dict:
    root = tmp / "course"
    shutil.copytree(
        COURSE,
        root,
        ignore=shutil.ignore_patterns(
            "gradebook.db", "release", "submitted", "autograded", "feedback", "exchange"
        ),
    )
    env = nbgrader_environment(quiet_in=tmp)
    results = {"root": str(root), "assignments": {}, "loaded": {}}
    originals = {
        p: p.read_bytes()
        for p in [root / "nbgrader_config.py", *sorted((root / "source").rglob("*.ipynb"))]
    }
    for assignment in ASSIGNMENTS:
        gen = nbgrader("generate_assignment", assignment, "--force", cwd=root, env=env)
        assert gen.returncode == 0, gen.stderr[-3000:]
        expected = build_submissions(root, assignment)
        if assignment in PARALLEL:
            graded = run(
                [sys.executable, "-m", "dlopt.grading.autograde_class", assignment],
                cwd=root,
                env=env,
            )
        else:
            graded = nbgrader("autograde", assignment, cwd=root, env=env)
        results["assignments"][assignment] = {
            "expected": {k: sorted(v) for k, v in expected.items()},
            "returncode": graded.returncode,
            "log": graded.stderr,
            **read_scores(root, assignment, expected),
        }
    # the same class graded again with every core kept busy by other processes
    hogs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(2 * (os.cpu_count() or 1))
    ]
    try:
        for assignment in LOADED:
            graded = run(
                [
                    sys.executable,
                    "-m",
                    "dlopt.grading.autograde_class",
                    assignment,
                    "--jobs",
                    "2",
                    "--",
                    "--force",
                ],
                cwd=root,
                env=env,
            )
            results["loaded"][assignment] = {
                "returncode": graded.returncode,
                "log": graded.stderr[-3000:],
                **read_scores(root, assignment, results["assignments"][assignment]["expected"]),
            }
    finally:
        for hog in hogs:
            hog.kill()
    feedback = nbgrader(
        "generate_feedback", "gradient_descent", "--student=source", cwd=root, env=env
    )
    results["feedback"] = {"returncode": feedback.returncode, "log": feedback.stderr[-3000:]}
    results["protected_files_unchanged"] = all(
        p.exists() and p.read_bytes() == content for p, content in originals.items()
    )
    results["planted"] = sorted(str(p) for p in root.rglob("planted.py"))
    return results


def _grade_everything_in(folder: Path) -> dict:
    tmp = folder / "exercises"
    tmp.mkdir(exist_ok=True)
    return grade_everything(tmp)


@pytest.fixture(scope="module")
def graded(once_per_run) -> dict:
    """Every class graded once per run (conftest.py), whichever worker asks first."""
    return once_per_run("course-graded", _grade_everything_in)


def autograded_scores(graded, assignment, student):
    data = graded["assignments"][assignment]
    scores = data["scores"][student]
    return {cell: (scores or {}).get(cell) or 0.0 for cell in graded_cells(assignment)}


def assert_scores(graded, assignment, student, zero) -> None:
    data = graded["assignments"][assignment]
    got = autograded_scores(graded, assignment, student)
    want = {cell: 0.0 if cell in zero else data["max"][cell] for cell in got}
    assert got == want, f"{student}: scores {got}, expected {want}"


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_released_notebook_holds_no_solution_and_no_hidden_test(graded, assignment):
    root = Path(graded["root"])
    text = (root / "release" / assignment / f"{assignment}.ipynb").read_text()
    source = nbformat.read(root / "source" / assignment / f"{assignment}.ipynb", 4)
    for marker in (
        "BEGIN SOLUTION",
        "END SOLUTION",
        "BEGIN HIDDEN TESTS",
        "hidden=True",
        "Grading guide",
    ):
        assert marker not in text
    solutions = [
        c.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
        for c in source.cells
        if "### BEGIN SOLUTION" in c.source
    ]
    given = json.dumps(source)  # lines the text or a docstring also gives are not solutions
    for body in solutions:
        for line in filter(None, (s.strip() for s in body.splitlines())):
            if len(line) > 12 and given.count(json.dumps(line)[1:-1]) == 1:
                assert line not in text, line
    stubs = [
        c
        for c in nbformat.reads(text, 4).cells
        if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"
    ]
    assert stubs and all("raise NotImplementedError()" in c.source for c in stubs)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_notebook_scores_full_marks(graded, assignment):
    assert_scores(graded, assignment, "source", zero=set())
    written = [c for c in graded["assignments"][assignment]["max"] if c.startswith("written")]
    assert written and sum(graded["assignments"][assignment]["max"].values()) in range(20, 31)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_released_notebook_scores_zero_and_the_run_finishes(graded, assignment):
    assert_scores(graded, assignment, "released", zero=set(graded_cells(assignment)))
    scores = graded["assignments"][assignment]["scores"]
    assert all(scores[s] is not None for s in ("source", "released", "variants"))


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_correct_variants_keep_full_marks(graded, assignment):
    assert_scores(graded, assignment, "variants", zero=set())


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_each_mistake_loses_points_on_its_exercise_and_only_there(graded, assignment):
    data = graded["assignments"][assignment]
    students = [s for s in data["expected"] if s.startswith("mistakes-")]
    covered = set()
    for student in students:
        assert_scores(graded, assignment, student, zero=set(data["expected"][student]))
        covered |= set(data["expected"][student])
    assert covered == set(graded_cells(assignment))
    n = sum(1 for m in MISTAKES if EXERCISES[m.exercise].assignment == assignment)
    assert n == sum(len(v) for k, v in data["expected"].items() if k.startswith("mistakes-"))


def test_feedback_of_a_graded_mistake_names_the_mistake(graded):
    root = Path(graded["root"])
    packed = mistake_students("optimizers")
    student, mistakes = next(iter(packed.items()))
    nb = nbformat.read(root / "autograded" / student / "optimizers" / "optimizers.ipynb", 4)
    for m in mistakes:
        text = json.dumps(cell_by_id(nb, f"test_{m.exercise}").outputs)
        assert f"This matches a known mistake: {m.description}" in text
        assert "expected" in text and "got" in text and "step" in text


@pytest.mark.parametrize("cheat", CHEATS, ids=lambda c: c.name)
def test_cheat_attempt_earns_no_points(graded, cheat):
    data = graded["assignments"]["optimizers"]
    student = f"cheat-{cheat.name}"
    assert_scores(graded, "optimizers", student, zero=set(data["expected"][student]))
    scores = data["scores"][student] or {}
    assert "bonus" not in scores  # an added graded cell is not counted


@pytest.mark.parametrize("assignment", [a for a in ASSIGNMENTS if a != "optimizers"])
def test_attacks_on_every_exercise_of_the_other_assignments_earn_no_points(graded, assignment):
    assert_scores(graded, assignment, "cheat-combined", zero=set(graded_cells(assignment)))


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
@pytest.mark.parametrize("attack", [*GRADER_ATTACKS, "symlink"])
def test_attack_on_the_grading_scores_what_the_garbage_answer_scores(graded, assignment, attack):
    assert_scores(graded, assignment, f"attack-{attack}", zero=set(graded_cells(assignment)))


def test_test_cells_show_only_the_trusted_verdict(graded):
    root = Path(graded["root"])
    for student in (
        "cheat-rebind_helpers",
        "cheat-rebind_builtins",
        "attack-check_returns_a_value",
        "attack-pre_run_cell_hook",
        "attack-prints_a_verdict_and_exits",
        "source",
    ):
        nb = nbformat.read(root / "autograded" / student / "optimizers" / "optimizers.ipynb", 4)
        for grade_id in graded_cells("optimizers"):
            outputs = cell_by_id(nb, grade_id).outputs
            assert len(outputs) == 1, (student, grade_id, outputs)
            if student == "source":
                assert outputs[0].output_type == "stream" and outputs[0].name == "stdout"
                assert outputs[0].text.startswith("Passed: ")
            elif grade_id == "test_adam_step" or student.startswith("attack"):
                assert outputs[0].output_type == "error", (student, grade_id)


def test_the_class_scores_the_same_on_a_loaded_machine(graded):
    for assignment in LOADED:
        idle = graded["assignments"][assignment]["scores"]
        loaded = graded["loaded"][assignment]["scores"]
        assert loaded == idle, assignment


def test_autograde_finishes_the_class_despite_a_submission_that_exits(graded):
    data = graded["assignments"]["optimizers"]
    assert all(
        v is not None
        for k, v in data["scores"].items()
        if k != "cheat-invalid_json"
        and not k.startswith(
            (
                "cheat-wrong_nbformat",
                "cheat-missing",
                "cheat-renamed",
                "cheat-adds",
                "attack-symlink",
            )
        )
    )
    assert_scores(graded, "optimizers", "source", zero=set())


def test_gradebook_and_course_files_survive_a_submission_that_writes_to_them(graded):
    root = Path(graded["root"])
    with sqlite3.connect(root / "gradebook.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("select count(*) from grade where extra_credit > 0").fetchone() == (0,)
    assert graded["protected_files_unchanged"]
    assert graded["planted"] == []
    nb = nbformat.read(
        root / "autograded" / "cheat-tampers_with_gradebook" / "optimizers" / "optimizers.ipynb", 4
    )
    report = json.dumps(cell_by_id(nb, "warmup_cosine_lr").outputs)
    assert "[]" in report  # the sandbox holds no gradebook, config or source to find
    assert_scores(graded, "optimizers", "source", zero=set())  # honest scores unchanged


def test_nothing_a_submission_wrote_outlives_its_grading(graded):
    for folder in ("/tmp", "/dev/shm", "/var/tmp", os.path.expanduser("~")):
        assert not (Path(folder) / "dlopt-attack-left-behind").exists()
    names = subprocess.run(["ps", "-eo", "comm"], capture_output=True, text=True).stdout.split()
    assert "dlopt-killer" not in names  # the attack's daemon died with its sandbox


def test_generate_feedback_writes_html_for_a_graded_submission(graded):
    assert graded["feedback"]["returncode"] == 0, graded["feedback"]["log"]
    html = (
        Path(graded["root"]) / "feedback" / "source" / "gradient_descent" / "gradient_descent.html"
    )
    text = html.read_text()
    assert "Passed: minibatches: all" in text
    assert "Score:" in text or "score" in text.lower()
