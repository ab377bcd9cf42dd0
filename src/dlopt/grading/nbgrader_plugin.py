r"""The preprocessor that makes ``nbgrader autograde`` score only the trusted grader's verdict.

``exercises/nbgrader_config.py`` installs it with::

    c.Autograde.autograde_preprocessors = autograde_preprocessors()

which is nbgrader's own list with ``Execute`` replaced by :class:`TrustedExecute`.
No Jupyter kernel runs a submission during autograding. Instead:

- for every test cell whose grade id names a registered exercise
  (``test_<function>``, :data:`dlopt.grading.assignments.BY_GRADE_ID`), the
  answer's code cells run in a fresh operating-system sandbox
  (:func:`dlopt.grading.sandbox.run_answer`), one per exercise, on the visible
  cases and on hidden ones drawn from a per-submission seed; the outputs come
  back as data and are compared with the reference *in this process*
  (:func:`dlopt.grading.verdicts.judge`);
- the test cell's outputs are then **replaced** by the verdict: a line of text
  when it passed (nbgrader gives full points), an ``error`` output naming the
  mistake when it failed (0 points). Nothing the student's code prints,
  returns, displays or registers reaches a test cell, so nothing it does can
  add points, and a harmless warning on stderr cannot remove them;
- a graded test cell the grader does not know scores 0 with an error that
  says so (it is never skipped);
- answer cells get what they printed, and any error they raised, as text, for
  the feedback.

The hidden cases' seed is an HMAC of the submission's answer code under a
course secret (``.grading_secret`` beside the gradebook, created on first use,
never released): grading a submission twice gives the same score, and the
seed cannot be known from the notebook.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Float, Integer, Unicode

from dlopt.grading import sandbox

SECRET_NAME = ".grading_secret"


# --------------------------------------------------------------------------- cells


def is_test_cell(cell) -> bool:
    """An autograder test cell: a graded code cell that is not an answer."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def answer_sources(nb) -> list[str]:
    """The code the student's functions may depend on: every code cell but the test cells."""
    return [cell.source for cell in nb.cells if cell.cell_type == "code" and not is_test_cell(cell)]


def error_output(ename: str, message: str) -> NotebookNode:
    """An ``error`` output, the kind nbgrader scores as 0 points."""
    lines = message.splitlines() or [""]
    return NotebookNode(
        output_type="error",
        ename=ename,
        evalue=lines[0],
        traceback=[f"{ename}: {lines[0]}", *lines[1:]],
    )


def text_output(text: str) -> NotebookNode:
    """A ``stdout`` stream, which nbgrader's scoring ignores."""
    return NotebookNode(output_type="stream", name="stdout", text=text)


# --------------------------------------------------------------------------- the secret


def grading_secret(folder: Path) -> bytes:
    """The course's grading secret in ``folder`` (created, readable by its owner only)."""
    path = Path(folder) / SECRET_NAME
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_bytes(32))
    return path.read_bytes()


def hidden_seed(secret: bytes, *parts: str) -> int:
    """A 63-bit seed from the secret and ``parts`` (assignment, student, exercise, code)."""
    digest = hmac.new(secret, "\x00".join(parts).encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "little") >> 1


# --------------------------------------------------------------------------- grading


def grade_notebook(
    nb, *, secret: bytes, student: str, assignment: str, limits: sandbox.Limits
) -> tuple[dict[int, NotebookNode], list[dict] | None]:
    """The verdict output of every test cell (by cell index) and the answer cells' reports.

    The exercises run in as few children as walls allow: one for the exercises
    that call no stand-in, one for those that do (so no child that grades
    ``minibatches`` or ``fans`` holds a correct one). When a child dies, the
    exercise it was on fails and a fresh child runs the exercises after it.
    """
    from dlopt.grading.assignments import BY_GRADE_ID
    from dlopt.grading.verdicts import judge

    sources = answer_sources(nb)
    code_digest = hashlib.sha256("\x00".join(sources).encode()).hexdigest()
    verdicts: dict[int, NotebookNode] = {}
    plans = {False: [], True: []}
    for index, cell in enumerate(nb.cells):
        if not is_test_cell(cell):
            continue
        grade_id = cell.metadata.nbgrader.get("grade_id")
        exercise = BY_GRADE_ID.get(grade_id)
        if exercise is None:
            verdicts[index] = error_output(
                "UnknownTestCell",
                f"the graded cell {grade_id!r} is not one the course's grader "
                "knows, so it scores 0. Tell your instructor if you did not add it.",
            )
            continue
        seed = hidden_seed(secret, assignment, student, exercise.name, code_digest)
        cases = exercise.cases(hidden=False) + exercise.cases(hidden=True, seed=seed)
        uses_stand_ins = any(getattr(case.task, "stand_ins", None) for case in cases)
        plans[uses_stand_ins].append((index, exercise, cases))
    reports, cells_failed = None, None
    for stand_ins, plan in plans.items():
        if cells_failed:  # the same cells break the same limit in every child: not run again
            for index, exercise, _ in plan:
                verdicts[index] = error_output("AssertionError", f"{exercise.name}: {cells_failed}")
            continue
        while plan:
            tasks = [case.task for _, _, cases in plan for case in cases]
            groups = [ex.name for _, ex, cases in plan for _ in cases]
            run = sandbox.run_answer(
                sources, tasks, limits=limits, stand_ins=stand_ins, groups=groups
            )
            # the answer cells' reports of the first child (when the cells broke a limit, empty
            # ones: another child would break it again)
            reports = run.cells if reports is None else reports
            cells_failed = run.cells_failed
            start, rest = 0, []
            for index, exercise, cases in plan:
                outcomes = run.outcomes[start : start + len(cases)]
                begun = run.stopped_at is None or start <= run.stopped_at
                start += len(cases)
                if run.cells_failed:
                    verdicts[index] = error_output(
                        "AssertionError", f"{exercise.name}: {run.cells_failed}"
                    )
                elif begun:
                    verdict = judge(exercise, cases, outcomes, answer_errors=run.cell_errors)
                    verdicts[index] = (
                        text_output(f"Passed: {verdict.summary()}\n")
                        if verdict.passed
                        else error_output("AssertionError", verdict.summary())
                    )
                else:  # the child died on an earlier exercise: a fresh one runs this
                    rest.append((index, exercise, cases))
            plan = rest
    if reports is None and sources:  # no known test cell: run the answer cells alone
        reports = sandbox.run_answer(sources, [], limits=limits).cells
    return verdicts, reports


class TrustedExecute(NbGraderPreprocessor):
    """Grade the notebook in the sandbox and write the verdicts into its test cells.

    Takes ``Execute``'s place in nbgrader's autograde preprocessors (see the module docstring).
    """

    cpu_seconds_per_task = Float(5.0, help="CPU time of one case, seconds").tag(config=True)
    memory_limit = Integer(2 << 30, help="Address-space limit of a grading child").tag(config=True)
    secret_file = Unicode(
        "", help="The grading secret (default: .grading_secret beside the gradebook)"
    ).tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        limits = sandbox.Limits(
            cpu_seconds_per_task=self.cpu_seconds_per_task, memory_bytes=self.memory_limit
        )
        course = gradebook_path(info["db_url"]).parent
        secret = grading_secret(Path(self.secret_file).parent if self.secret_file else course)
        submitted = course / "submitted" / info["student"] / info["assignment"]
        if (submitted / f"{info['notebook']}.ipynb").is_symlink():
            raise ValueError(
                f"{submitted / info['notebook']}.ipynb is a symbolic link, not a "
                "submitted notebook: it is not graded"
            )
        try:
            verdicts, reports = grade_notebook(
                nb,
                secret=secret,
                student=info["student"],
                assignment=info["assignment"],
                limits=limits,
            )
        except sandbox.NotGradable as exc:
            self.log.error("NOT GRADABLE, re-run autograde for %s: %s", info["student"], exc)
            raise
        answers = iter(reports or [])
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if index in verdicts:
                cell.outputs = [verdicts[index]]
                continue
            report = next(answers, None)
            cell.outputs = [] if report is None else _answer_outputs(report)
        return nb, resources


def _answer_outputs(report: dict) -> list[NotebookNode]:
    text = report.get("text") or ""
    if report.get("error"):
        text += f"(While grading, this cell raised {report['error']})\n"
    return [text_output(text)] if text else []


def gradebook_path(db_url: str) -> Path:
    if not db_url.startswith("sqlite:///"):
        raise ValueError(f"Invalid db_url: {db_url!r} (expected a sqlite:/// gradebook)")
    return Path(db_url[len("sqlite:///") :])


# --------------------------------------------------------------------------- the list


def autograde_preprocessors() -> list:
    """nbgrader's autograde preprocessors with ``Execute`` replaced by :class:`TrustedExecute`."""
    from nbgrader.converters.autograde import Autograde

    default = Autograde.class_traits()["autograde_preprocessors"].default()
    if Execute not in default:
        raise RuntimeError("nbgrader's autograde preprocessors changed: Execute is missing")
    return [TrustedExecute if pp is Execute else pp for pp in default]
